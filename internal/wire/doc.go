// Package wire holds what every AWS JSON wire type shares: the timestamp
// encoding (epoch seconds) and the model-driven validation of a decoded
// request (required members, enums, bounds). The per-service types are
// generated into the packages below it (ecswire, ...) by shapegen.
package wire
