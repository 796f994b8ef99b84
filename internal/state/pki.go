package state

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The embedded etcd's PKI. One certificate authority (ca.crt, ca.key)
// signs every member's certificate; a member's certificate serves its
// client and peer listeners and is also the client certificate it presents
// to the other members and to its own etcd. Both listeners require a
// client certificate of that CA, so a local user without the CA's files
// (0600, in a 0700 directory) can neither read keys nor join as a peer.
//
// A lone server creates its CA in <data-dir>/etcd-pki on first start. The
// members of a cluster share one CA: `gantry etcd init-pki` writes it, the
// operator copies the directory to every server, and each server points
// --etcd-pki-dir at it. Member certificates are issued again at every
// start (they name the addresses the member listens on).

// File names in a PKI directory.
const (
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key"
	memberCertFile = "member.crt"
	memberKeyFile  = "member.key"
	// PKIDirName is the PKI directory's name inside a data directory.
	PKIDirName = "etcd-pki"
)

// ErrNoCA is returned when a PKI directory has no certificate authority.
var ErrNoCA = errors.New("state: no etcd certificate authority")

// authority is a loaded certificate authority.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// InitPKI writes a new certificate authority (ca.crt and ca.key, the key
// 0600) into dir, creating dir with 0700. It refuses to replace one.
func InitPKI(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, caKeyFile)); err == nil {
		return fmt.Errorf("state: %s already holds a certificate authority (%s); remove it first to replace it", dir, caKeyFile)
	}
	_, err := createCA(dir)
	return err
}

// loadOrCreateCA loads the authority in dir, creating it when create is
// set and dir has none.
func loadOrCreateCA(dir string, create bool) (*authority, error) {
	ca, err := loadCA(dir)
	if errors.Is(err, ErrNoCA) && create {
		return createCA(dir)
	}
	return ca, err
}

func createCA(dir string) (*authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: pki dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("state: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gantry-etcd-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("state: create CA certificate: %w", err)
	}
	if err := writePair(dir, caCertFile, caKeyFile, der, key); err != nil {
		return nil, err
	}
	return loadCA(dir)
}

func loadCA(dir string) (*authority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: run `gantry etcd init-pki --dir %s` and copy it to every server", ErrNoCA, dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("state: read CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("state: read CA key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("state: CA in %s: %w", dir, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("state: CA in %s: %w", dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("state: CA key in %s is not an ECDSA key", dir)
	}
	return &authority{cert: cert, certPEM: certPEM, key: key}, nil
}

// issue returns a certificate for a member or client, valid for TLS
// serving and client authentication, naming hosts (IP addresses or DNS
// names) besides localhost and 127.0.0.1.
func (ca *authority) issue(name string, hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("state: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("state: issue certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// writeMember issues the member's certificate and writes it, with the CA's
// certificate, into dir (where etcd's listeners read them).
func (ca *authority) writeMember(dir, name string, hosts ...string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state: pki dir: %w", err)
	}
	cert, err := ca.issue(name, hosts...)
	if err != nil {
		return err
	}
	if err := writePair(dir, memberCertFile, memberKeyFile, cert.Certificate[0], cert.PrivateKey.(*ecdsa.PrivateKey)); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, caCertFile), ca.certPEM, 0o600)
}

// clientTLS is the TLS configuration of a client of the cluster: a fresh
// certificate of the CA, and the CA as the only root.
func (ca *authority) clientTLS() (*tls.Config, error) {
	cert, err := ca.issue("gantry-client")
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// ClientTLS is the TLS configuration a client of the etcd whose CA is in
// dir uses (gantry etcd remove-member, a server on an external etcd).
func ClientTLS(dir string) (*tls.Config, error) {
	ca, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	return ca.clientTLS()
}

func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("state: encode key: %w", err)
	}
	if err := writeFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes data through a temporary file and a rename, so that a
// reader never sees half a file.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("state: write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("state: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state: write %s: %w", path, err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}
