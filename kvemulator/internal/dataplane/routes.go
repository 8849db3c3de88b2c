package dataplane

import (
	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"

	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// routes is every data-plane operation, in one table (see doc.go of the
// kvemulator package for the fields).
func routes() []Route {
	rs := []Route{
		// secrets
		{Method: "PUT", Path: "/secrets/{name}", Kind: store.KindSecret, Permission: "set", Op: "SetSecret", Handler: setSecret},
		{Method: "GET", Path: "/secrets/{name}/{$}", Kind: store.KindSecret, Permission: "get", Op: "GetSecret", Handler: getSecret},
		{Method: "GET", Path: "/secrets/{name}", Kind: store.KindSecret, Permission: "get", Op: "GetSecret", Handler: getSecret},
		{Method: "GET", Path: "/secrets/{name}/{version}", Kind: store.KindSecret, Permission: "get", Op: "GetSecret", Handler: getSecret},
		{Method: "PATCH", Path: "/secrets/{name}/{$}", Kind: store.KindSecret, Permission: "set", Op: "UpdateSecret", Handler: updateSecret},
		{Method: "PATCH", Path: "/secrets/{name}/{version}", Kind: store.KindSecret, Permission: "set", Op: "UpdateSecret", Handler: updateSecret},
		{Method: "GET", Path: "/secrets", Kind: store.KindSecret, Permission: "list", Op: "ListSecrets", Handler: listSecrets},
		{Method: "GET", Path: "/secrets/{name}/versions", Kind: store.KindSecret, Permission: "list", Op: "ListSecretVersions", Handler: listSecretVersions},
		{Method: "DELETE", Path: "/secrets/{name}", Kind: store.KindSecret, Permission: "delete", Op: "DeleteSecret", Handler: secretDeletes.delete},
		{Method: "GET", Path: "/deletedsecrets", Kind: store.KindSecret, Permission: "list", Op: "ListDeletedSecrets", Handler: listDeletedSecrets},
		{Method: "GET", Path: "/deletedsecrets/{name}", Kind: store.KindSecret, Permission: "get", Op: "GetDeletedSecret", Handler: secretDeletes.get},
		{Method: "POST", Path: "/deletedsecrets/{name}/recover", Kind: store.KindSecret, Permission: "recover", Op: "RecoverDeletedSecret", Handler: secretDeletes.recover},
		{Method: "DELETE", Path: "/deletedsecrets/{name}", Kind: store.KindSecret, Permission: "purge", Op: "PurgeDeletedSecret", Handler: secretDeletes.purge},
		{Method: "POST", Path: "/secrets/{name}/backup", Kind: store.KindSecret, Permission: "backup", Op: "BackupSecret", Handler: backupSecret},
		{Method: "POST", Path: "/secrets/restore", Kind: store.KindSecret, Permission: "restore", Op: "RestoreSecret", Handler: restoreSecret},
		// keys
		{Method: "POST", Path: "/keys/{name}/create", Kind: store.KindKey, Permission: "create", Op: "CreateKey", Throttle: "keyCreate", Handler: createKey},
		{Method: "PUT", Path: "/keys/{name}", Kind: store.KindKey, Permission: "import", Op: "ImportKey", Handler: importKey},
		{Method: "GET", Path: "/keys/{name}/{$}", Kind: store.KindKey, Permission: "get", Op: "GetKey", Handler: getKey},
		{Method: "GET", Path: "/keys/{name}", Kind: store.KindKey, Permission: "get", Op: "GetKey", Handler: getKey},
		{Method: "GET", Path: "/keys/{name}/{version}", Kind: store.KindKey, Permission: "get", Op: "GetKey", Handler: getKey},
		{Method: "PATCH", Path: "/keys/{name}/{$}", Kind: store.KindKey, Permission: "update", Op: "UpdateKey", Handler: updateKey},
		{Method: "PATCH", Path: "/keys/{name}/{version}", Kind: store.KindKey, Permission: "update", Op: "UpdateKey", Handler: updateKey},
		{Method: "GET", Path: "/keys", Kind: store.KindKey, Permission: "list", Op: "ListKeys", Handler: listKeys},
		{Method: "GET", Path: "/keys/{name}/versions", Kind: store.KindKey, Permission: "list", Op: "ListKeyVersions", Handler: listKeyVersions},
		{Method: "DELETE", Path: "/keys/{name}", Kind: store.KindKey, Permission: "delete", Op: "DeleteKey", Handler: keyDeletes.delete},
		{Method: "GET", Path: "/deletedkeys", Kind: store.KindKey, Permission: "list", Op: "ListDeletedKeys", Handler: listDeletedKeys},
		{Method: "GET", Path: "/deletedkeys/{name}", Kind: store.KindKey, Permission: "get", Op: "GetDeletedKey", Handler: keyDeletes.get},
		{Method: "POST", Path: "/deletedkeys/{name}/recover", Kind: store.KindKey, Permission: "recover", Op: "RecoverDeletedKey", Handler: keyDeletes.recover},
		{Method: "DELETE", Path: "/deletedkeys/{name}", Kind: store.KindKey, Permission: "purge", Op: "PurgeDeletedKey", Handler: keyDeletes.purge},
		{Method: "POST", Path: "/keys/{name}/backup", Kind: store.KindKey, Permission: "backup", Op: "BackupKey", Handler: backupKey},
		{Method: "POST", Path: "/keys/restore", Kind: store.KindKey, Permission: "restore", Op: "RestoreKey", Handler: restoreKey},
		{Method: "POST", Path: "/keys/{name}/rotate", Kind: store.KindKey, Permission: "rotate", Op: "RotateKey", Throttle: "keyCreate", Handler: rotateKey},
		// keys_rotation
		{Method: "GET", Path: "/keys/{name}/rotationpolicy", Kind: store.KindKey, Permission: "getrotationpolicy", Op: "GetKeyRotationPolicy", Handler: getKeyRotationPolicy},
		{Method: "PUT", Path: "/keys/{name}/rotationpolicy", Kind: store.KindKey, Permission: "setrotationpolicy", Op: "UpdateKeyRotationPolicy", Handler: updateKeyRotationPolicy},
		// certificates
		{Method: "POST", Path: "/certificates/{name}/create", Kind: store.KindCertificate, Permission: "create", Op: "CreateCertificate", Handler: createCertificate},
		{Method: "POST", Path: "/certificates/{name}/import", Kind: store.KindCertificate, Permission: "import", Op: "ImportCertificate", Handler: importCertificate},
		{Method: "GET", Path: "/certificates/{name}/{$}", Kind: store.KindCertificate, Permission: "get", Op: "GetCertificate", Handler: getCertificate},
		{Method: "GET", Path: "/certificates/{name}", Kind: store.KindCertificate, Permission: "get", Op: "GetCertificate", Handler: getCertificate},
		{Method: "GET", Path: "/certificates/{name}/{version}", Kind: store.KindCertificate, Permission: "get", Op: "GetCertificate", Handler: getCertificate},
		{Method: "PATCH", Path: "/certificates/{name}/{$}", Kind: store.KindCertificate, Permission: "update", Op: "UpdateCertificate", Handler: updateCertificate},
		{Method: "PATCH", Path: "/certificates/{name}/{version}", Kind: store.KindCertificate, Permission: "update", Op: "UpdateCertificate", Handler: updateCertificate},
		{Method: "GET", Path: "/certificates", Kind: store.KindCertificate, Permission: "list", Op: "ListCertificates", Handler: listCertificates},
		{Method: "GET", Path: "/certificates/{name}/versions", Kind: store.KindCertificate, Permission: "list", Op: "ListCertificateVersions", Handler: listCertificateVersions},
		{Method: "GET", Path: "/certificates/{name}/policy", Kind: store.KindCertificate, Permission: "get", Op: "GetCertificatePolicy", Handler: getCertificatePolicy},
		{Method: "PATCH", Path: "/certificates/{name}/policy", Kind: store.KindCertificate, Permission: "update", Op: "UpdateCertificatePolicy", Handler: updateCertificatePolicy},
		{Method: "GET", Path: "/certificates/{name}/pending", Kind: store.KindCertificate, Permission: "get", Op: "GetCertificateOperation", Handler: getCertificateOperation},
		{Method: "PATCH", Path: "/certificates/{name}/pending", Kind: store.KindCertificate, Permission: "update", Op: "UpdateCertificateOperation", Handler: cancelCertificateOperation},
		{Method: "POST", Path: "/certificates/{name}/pending/merge", Kind: store.KindCertificate, Permission: "create", Op: "MergeCertificate", Handler: mergeCertificate},
		{Method: "DELETE", Path: "/certificates/{name}/pending", Kind: store.KindCertificate, Permission: "delete", Op: "DeleteCertificateOperation", Handler: deleteCertificateOperation},
		{Method: "DELETE", Path: "/certificates/{name}", Kind: store.KindCertificate, Permission: "delete", Op: "DeleteCertificate", Handler: deleteCertificate},
		{Method: "GET", Path: "/deletedcertificates", Kind: store.KindCertificate, Permission: "list", Op: "ListDeletedCertificates", Handler: listDeletedCertificates},
		{Method: "GET", Path: "/deletedcertificates/{name}", Kind: store.KindCertificate, Permission: "get", Op: "GetDeletedCertificate", Handler: getDeletedCertificate},
		{Method: "POST", Path: "/deletedcertificates/{name}/recover", Kind: store.KindCertificate, Permission: "recover", Op: "RecoverDeletedCertificate", Handler: recoverDeletedCertificate},
		{Method: "DELETE", Path: "/deletedcertificates/{name}", Kind: store.KindCertificate, Permission: "purge", Op: "PurgeDeletedCertificate", Handler: purgeDeletedCertificate},
		{Method: "POST", Path: "/certificates/{name}/backup", Kind: store.KindCertificate, Permission: "backup", Op: "BackupCertificate", Handler: backupCertificate},
		{Method: "POST", Path: "/certificates/restore", Kind: store.KindCertificate, Permission: "restore", Op: "RestoreCertificate", Handler: restoreCertificate},
	}
	rs = append(rs, certSettingsRoutes()...)
	// Key operations, on a version or (the SDK collapses "/keys/{name}//sign") on the latest.
	for _, o := range []struct {
		path, perm, op string
		handler        func(c *Call) (int, any, error)
	}{
		{"sign", "sign", "Sign", keyOperation(kvcrypto.OpSign)},
		{"verify", "verify", "Verify", verifyKey},
		{"encrypt", "encrypt", "Encrypt", keyOperation(kvcrypto.OpEncrypt)},
		{"decrypt", "decrypt", "Decrypt", keyOperation(kvcrypto.OpDecrypt)},
		{"wrapkey", "wrapKey", "WrapKey", keyOperation(kvcrypto.OpWrapKey)},
		{"unwrapkey", "unwrapKey", "UnwrapKey", keyOperation(kvcrypto.OpUnwrapKey)},
	} {
		rs = append(rs,
			Route{Method: "POST", Path: "/keys/{name}/{version}/" + o.path, Kind: store.KindKey, Permission: o.perm, Op: o.op, Handler: o.handler},
			Route{Method: "POST", Path: "/keys/{name}/" + o.path, Kind: store.KindKey, Permission: o.perm, Op: o.op, Handler: o.handler},
		)
	}
	return rs
}
