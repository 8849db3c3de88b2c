// Package kvemulator is an HTTPS Azure Key Vault + Entra ID emulator that
// unmodified Azure SDK clients use with default options: real TLS with its own
// CA, vaults addressed by host (<vault>.<dns-suffix>:<port>), the bearer
// challenge, signed and checked tokens, access policies, the service's errors,
// throttling and injectable faults, an admin API, a YAML seed and optional
// persistence. Start it in-process with Start, or run cmd/kvemulator.
//
// # Layout
//
// This package is the public API: Start, Config, Server (URLs, transport,
// MintToken, ApplySeed), AdminClient, and aliases of the seed, state and
// admin types. The work is in internal packages, one per pipeline stage:
//
//   - internal/store: the State (tenants, identities, vaults, objects) behind
//     one lock, and its atomic persistence.
//   - internal/entra: the login host (token endpoint, OIDC metadata), the
//     managed-identity endpoints (IMDS, App Service, NMI) and the token issuer.
//   - internal/dataplane: the vault pipeline and the secrets, keys and
//     certificates handlers; routes.go is the one route table; Build turns a
//     seed into a State through the handlers' own code.
//   - internal/admin: the loopback admin API.
//   - internal/faults: counters, fault rules and throttling limits.
//   - internal/seed: the seed document; internal/kverr: the service's errors.
//
// # Request pipeline
//
// Server.ServeHTTP dispatches by host (host.go): the login host goes to Entra
// ID, vault hosts to the data plane. A data-plane request then goes through
// Plane.serveOp (dataplane/router.go): api-version check → injected faults →
// token check (401 + WWW-Authenticate challenge) → access policy (403) →
// throttling (429) → the operation's handler → counters.
//
// # Adding a data-plane operation
//
//  1. Add it to the table in dataplane/routes.go:
//
//     {Method: "POST", Path: "/keys/{name}/{version}/sign",
//     Kind: store.KindKey, Permission: "sign", Op: "Sign", Handler: signKey},
//
//     Path is a net/http pattern relative to the vault root; "{$}" matches the
//     SDK's trailing slash ("/keys/{name}/{$}" = latest version). Permission is
//     the access-policy permission name exactly as Key Vault spells it ("get",
//     "list", "create", "import", "update", "delete", "recover", "purge",
//     "backup", "restore", "sign", "verify", "encrypt", "decrypt", "wrapKey",
//     "unwrapKey", "rotate", "getrotationpolicy", "setrotationpolicy",
//     "managecontacts", "getissuers", ...); seed policies may say "all". Op is
//     the name counters and fault rules use. Key creation sets
//     Throttle: "keyCreate" (the service's lower limit).
//
//  2. Write the handler as func(c *Call) (status int, body any, err error). Use
//     c.Name(), c.VersionParam() ("" = latest), c.Decode(&req) (a BadParameter
//     on bad JSON), c.Now, and c.ID("keys", name, version) for ids (built from
//     the host the client used). Read with c.View(func(v *Vault) error) and
//     change with c.Update(func(v *Vault) error) — both hold the store lock, and
//     Update persists. Return the error helpers of internal/kverr: ErrBadParameter,
//     ErrNotFound(kind, name, version), ErrDisabled, ErrDeletedButRecoverable
//     (409 when a name is soft-deleted), ErrConflict, ErrDeletedNotFound. Check
//     readability with usable(kind, op, attrs, now). List handlers use
//     listObjects / listVersions (paging.go), or collect items and return
//     c.page(items, 25) for maxresults/$skiptoken/nextLink.
//     Backup/restore use c.p.sealBackup / openBackup with the kind.
//
//  3. Objects live in Vault.Secrets/Keys/Certificates as *Object[V]: versions
//     oldest first, Deleted set while soft-deleted (the name stays taken), and
//     Extra for per-kind data (certificate policy, pending operation, rotation
//     policy). New versions get store.NewVersionID() (32 hex) and
//     v.NewAttributes(reqAttrs, now) (created/updated, recoveryLevel,
//     recoverableDays); v.SoftDelete(now) gives the deletion record.
//
// # Certificates and their backing secret and key
//
// Each certificate version V of certificate N has a key version keys/N/V and a
// secret version secrets/N/V with the same version id, both with Managed=true.
// The secret's Value is the PFX (base64, content type application/x-pkcs12) or
// the PEM (application/x-pem-file) of key and chain; renderSecret emits
// "kid" = <base>/keys/N/V and "managed": true for it. The certificate handler
// must create all three in one c.Update, and delete/recover/purge them
// together. The secret and key handlers refuse to set, update, delete, recover
// or purge a managed secret or key with 409 (dataplane/softdelete.go for the
// soft-delete part, shared by secrets and keys).
//
// # Seeding keys and certificates
//
// dataplane.Build calls seedKey and seedCertificate (dataplane/seed_crypto.go)
// for every version in the seed, under no lock, on a vault not yet published.
package kvemulator
