package state

import (
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogger is the embedded etcd's logger: its errors go to etcd.log in
// the data directory, and what ends the process (etcd's panics and fatal
// errors, such as a full disk) goes to stderr too, since etcd.log may be
// the very file that cannot be written.
func etcdLogger(logPath string, stderr io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	cores := []zapcore.Core{
		zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(stderr)), zapcore.DPanicLevel),
	}
	if f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		cores = append(cores, zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(f), zapcore.ErrorLevel))
	}
	return zap.New(zapcore.NewTee(cores...), zap.AddCaller())
}
