package kvemulator

import "time"

// DefaultCertificateCreateDelay is how long a created certificate's operation
// stays inProgress unless Config.CertificateCreateDelay says otherwise.
const DefaultCertificateCreateDelay = 300 * time.Millisecond

func (c Config) certificateCreateDelay() time.Duration {
	switch {
	case c.CertificateCreateDelay < 0:
		return 0
	case c.CertificateCreateDelay == 0:
		return DefaultCertificateCreateDelay
	}
	return c.CertificateCreateDelay
}
