#!/usr/bin/python3
"""Conformance of Debian's python3-azure clients against kvemulator.

Run by clientstest's Go test, which starts the emulator and passes:
  PYTHONPATH     testdata/pyresolve (its sitecustomize resolves the emulator's
                 names; KVEMU_ADDR and KVEMU_HOSTS configure it)
  REQUESTS_CA_BUNDLE  the emulator's CA (requests, so azure-core and MSAL, trust it)
  KVEMU_TENANT, KVEMU_VAULT

The clients run with default options against the public cloud's names
(login.microsoftonline.com, <vault>.vault.azure.net): the only changes are
name resolution and the trusted CA. Each case prints PASS or FAIL with a traceback; the
exit status is 1 when any case failed. The last line is
  API_VERSIONS {"<client>": [<api-version sent>, ...]}
"""

import base64
import datetime
import hashlib
import json
import os
import socket
import sys
import traceback

if not getattr(socket.getaddrinfo, "kvemulator", False):
    sys.exit("conformance.py: run with testdata/pyresolve on PYTHONPATH (it resolves the emulator's names)")

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402
from azure.keyvault.certificates import (  # noqa: E402
    CertificateClient,
    CertificateContentType,
    CertificatePolicy,
)
from azure.keyvault.certificates import ApiVersion as CertApiVersion  # noqa: E402
from azure.keyvault.keys import ApiVersion as KeyApiVersion  # noqa: E402
from azure.keyvault.keys import KeyClient  # noqa: E402
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm  # noqa: E402
from azure.keyvault.secrets import ApiVersion as SecretApiVersion  # noqa: E402
from azure.keyvault.secrets import SecretClient  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

TENANT = os.environ.get("KVEMU_TENANT", "11111111-1111-1111-1111-111111111111")
VAULT = "https://%s.vault.azure.net/" % os.environ.get("KVEMU_VAULT", "kv1")
ADMIN = ("aaaaaaaa-0000-0000-0000-000000000002", "admin-client-secret")
OUTSIDER = ("aaaaaaaa-0000-0000-0000-000000000003", "outsider-client-secret")

SENT = {}  # client kind -> api-versions seen on the wire


def recorder(kind):
    def hook(request):
        url = request.http_request.url
        for part in url.split("?", 1)[1].split("&") if "?" in url else []:
            if part.startswith("api-version="):
                SENT.setdefault(kind, set()).add(part.split("=", 1)[1])

    return hook


def cred(identity=ADMIN):
    return ClientSecretCredential(TENANT, identity[0], identity[1])


def secrets(api_version=None, identity=ADMIN):
    kw = {"api_version": api_version} if api_version else {}
    return SecretClient(VAULT, cred(identity), raw_request_hook=recorder("secrets"), **kw)


def keys(api_version=None):
    kw = {"api_version": api_version} if api_version else {}
    return KeyClient(VAULT, cred(), raw_request_hook=recorder("keys"), **kw)


def certs(api_version=None):
    kw = {"api_version": api_version} if api_version else {}
    return CertificateClient(VAULT, cred(), raw_request_hook=recorder("certificates"), **kw)


def slug(v):
    return str(getattr(v, "value", v)).replace(".", "-")


def expect_status(fn, status, code=None):
    try:
        fn()
    except HttpResponseError as e:
        if e.status_code != status:
            raise AssertionError("want HTTP %d, got %d: %s" % (status, e.status_code, e.message))
        if code is not None and (e.error is None or e.error.code != code):
            raise AssertionError("want error code %s, got %s" % (code, e.error and e.error.code))
        return e
    raise AssertionError("want HTTP %d, got success" % status)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# --- secrets -----------------------------------------------------------------


def secret_lifecycle(v):
    c = secrets(v)
    name = "py-secret-" + slug(v)
    s1 = c.set_secret(name, "value-1", content_type="text/plain", tags={"team": "a"})
    s2 = c.set_secret(name, "value-2")
    check(s1.properties.version != s2.properties.version, "each set creates a version")
    check(len(s1.properties.version) == 32, "32-hex version, got %r" % s1.properties.version)
    check(c.get_secret(name).value == "value-2", "latest is value-2")
    old = c.get_secret(name, s1.properties.version)
    check(old.value == "value-1" and old.properties.content_type == "text/plain", "get by version")
    check(old.properties.tags == {"team": "a"}, "tags kept: %r" % old.properties.tags)
    versions = list(c.list_properties_of_secret_versions(name))
    check(len(versions) == 2, "2 versions, got %d" % len(versions))

    c.update_secret_properties(name, s1.properties.version, enabled=False)
    expect_status(lambda: c.get_secret(name, s1.properties.version), 403, "Forbidden")

    backup = c.backup_secret(name)
    check(len(backup) > 0, "backup is a blob")

    deleted = c.begin_delete_secret(name).result()
    check(deleted.name == name and deleted.recovery_id, "deleted secret has a recovery id")
    check(c.get_deleted_secret(name).name == name, "get deleted")
    expect_status(lambda: c.get_secret(name), 404, "SecretNotFound")
    c.begin_recover_deleted_secret(name).result()
    check(c.get_secret(name).value == "value-2", "recovered")

    c.begin_delete_secret(name).wait()
    c.purge_deleted_secret(name)
    try:
        c.get_deleted_secret(name)
        raise AssertionError("purged secret still listed as deleted")
    except ResourceNotFoundError:
        pass
    restored = c.restore_secret_backup(backup)
    check(restored.name == name, "restored name")
    check(c.get_secret(name).value == "value-2", "restored value")
    check(len(list(c.list_properties_of_secret_versions(name))) == 2, "restore brings every version")


def secret_list_paging():
    c = secrets()
    made = {"py-page-%d" % i for i in range(5)}
    for n in made:
        c.set_secret(n, "x")
    pages = 0
    seen = set()
    for page in c.list_properties_of_secrets(max_page_size=2).by_page():
        pages += 1
        items = list(page)
        check(len(items) <= 2, "page of %d > max_page_size 2" % len(items))
        seen.update(p.name for p in items)
    check(made <= seen, "listed %s, missing %s" % (sorted(seen), sorted(made - seen)))
    check(pages >= 3, "want >= 3 pages of 2, got %d" % pages)


# --- keys --------------------------------------------------------------------


def key_ops(v):
    kc = keys(v)
    s = slug(v)
    rsa = kc.create_rsa_key("py-rsa-" + s, size=2048)
    check(rsa.key_type == "RSA" and len(rsa.key.n) == 256, "RSA 2048 public key")
    crypto = CryptographyClient(rsa, cred(), api_version=kc.api_version, raw_request_hook=recorder("keys"))
    digest = hashlib.sha256(b"conformance").digest()
    sig = crypto.sign(SignatureAlgorithm.rs256, digest)
    check(len(sig.signature) == 256, "RS256 signature size")
    check(crypto.verify(SignatureAlgorithm.rs256, digest, sig.signature).is_valid, "RS256 verifies")
    bad = hashlib.sha256(b"other").digest()
    check(not crypto.verify(SignatureAlgorithm.rs256, bad, sig.signature).is_valid, "RS256 rejects another digest")
    enc = crypto.encrypt(EncryptionAlgorithm.rsa_oaep, b"plain text")
    check(enc.ciphertext != b"plain text" and len(enc.ciphertext) == 256, "RSA-OAEP ciphertext")
    check(crypto.decrypt(EncryptionAlgorithm.rsa_oaep, enc.ciphertext).plaintext == b"plain text", "RSA-OAEP round trip")

    eck = kc.create_ec_key("py-ec-" + s, curve="P-256")
    check(eck.key_type == "EC" and eck.key.crv == "P-256", "EC P-256 key")
    ecc = CryptographyClient(eck, cred(), api_version=kc.api_version, raw_request_hook=recorder("keys"))
    sig = ecc.sign(SignatureAlgorithm.es256, digest)
    check(len(sig.signature) == 64, "ES256 signature is r||s, 64 bytes")
    check(ecc.verify(SignatureAlgorithm.es256, digest, sig.signature).is_valid, "ES256 verifies")
    # The signature must also verify outside Key Vault.
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(eck.key.x, "big"), int.from_bytes(eck.key.y, "big"), ec.SECP256R1()
    ).public_key()
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

    r = int.from_bytes(sig.signature[:32], "big")
    s_ = int.from_bytes(sig.signature[32:], "big")
    pub.verify(encode_dss_signature(r, s_), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    check(kc.get_key("py-ec-" + s).id == eck.id, "get key")


# --- certificates ------------------------------------------------------------


def cert_default_policy(v):
    cc = certs(v)
    name = "py-cert-" + slug(v)
    # The emulator answers inProgress for a few hundred ms: the poller polls
    # (its 5 s default interval only slows the suite down).
    poller = cc.begin_create_certificate(name, policy=CertificatePolicy.get_default(), _polling_interval=0.1)
    check(not poller.done(), "a new certificate starts inProgress")
    cert = poller.result()
    check(cert.name == name and cert.cer, "created certificate has its DER")
    x = x509.load_der_x509_certificate(bytes(cert.cer))
    cn = x.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    check(cn == "DefaultPolicy", "subject CN=DefaultPolicy, got %s" % cn)
    op = cc.get_certificate_operation(name)
    check(op.status.lower() == "completed", "operation completed, got %s" % op.status)

    # The backing secret holds the PFX (default policy content type).
    sec = secrets().get_secret(name)
    check(sec.properties.content_type == "application/x-pkcs12", "PFX content type, got %s" % sec.properties.content_type)
    key, leaf, _ = pkcs12.load_key_and_certificates(base64.b64decode(sec.value), None)
    check(key is not None, "PFX has the private key")
    check(leaf.public_bytes(serialization.Encoding.DER) == bytes(cert.cer), "PFX leaf is the certificate")
    check(sec.properties.managed, "backing secret is managed")


def cert_import_pem(v):
    cc = certs(v)
    name = "py-import-" + slug(v)
    k = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imported.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    x = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(k, hashes.SHA256())
    )
    pem = k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + x.public_bytes(serialization.Encoding.PEM)
    imported = cc.import_certificate(
        name, pem, policy=CertificatePolicy(issuer_name="Self", content_type=CertificateContentType.pem)
    )
    check(bytes(imported.cer) == x.public_bytes(serialization.Encoding.DER), "imported DER is the certificate")
    check(imported.properties.x509_thumbprint == hashlib.sha1(bytes(imported.cer)).digest(), "x5t is the SHA-1 thumbprint")
    sec = secrets().get_secret(name)
    check(sec.properties.content_type == "application/x-pem-file", "PEM content type")
    check("PRIVATE KEY" in sec.value and "BEGIN CERTIFICATE" in sec.value, "backing secret holds key and certificate")


def cert_contacts_and_issuers(v):
    from azure.keyvault.certificates import AdministratorContact, CertificateContact

    cc = certs(v)
    try:
        cc.delete_contacts()
    except ResourceNotFoundError:
        pass
    try:
        cc.get_contacts()
        raise AssertionError("contacts of a vault without any")
    except ResourceNotFoundError as e:
        check(e.error.code == "ContactsNotFound", "404 ContactsNotFound, got %s" % e.error.code)
    want = [CertificateContact(email="a@example.com", name="a", phone="1111"), CertificateContact(email="b@example.com")]
    got = cc.set_contacts(want)
    check([c.email for c in got] == ["a@example.com", "b@example.com"], "set contacts answers them")
    check([(c.email, c.name, c.phone) for c in cc.get_contacts()] == [("a@example.com", "a", "1111"), ("b@example.com", None, None)], "get contacts")
    check(len(cc.delete_contacts()) == 2, "delete answers the deleted contacts")

    name = "py-issuer-" + slug(v)
    admin = AdministratorContact(first_name="John", last_name="Doe", email="admin@example.com", phone="4255555555")
    issuer = cc.create_issuer(name, "Test", account_id="keyvaultuser", password="not-returned", admin_contacts=[admin])
    check(issuer.name == name and issuer.provider == "Test" and issuer.account_id == "keyvaultuser", "created issuer")
    check(issuer.password is None, "the issuer password is never answered")
    check(issuer.enabled is True and issuer.created_on is not None, "issuer attributes")
    check(cc.get_issuer(name).admin_contacts[0].email == "admin@example.com", "get issuer")
    updated = cc.update_issuer(name, account_id="keyvaultuser2")
    check(updated.account_id == "keyvaultuser2" and updated.provider == "Test", "update keeps what it does not name")
    listed = [p.name for p in cc.list_properties_of_issuers()]
    check(name in listed, "listed issuers %s" % listed)
    check(cc.delete_issuer(name).name == name, "delete answers the issuer")
    try:
        cc.get_issuer(name)
        raise AssertionError("deleted issuer still answers")
    except ResourceNotFoundError as e:
        check(e.error.code == "CertificateIssuerNotFound", "404 CertificateIssuerNotFound, got %s" % e.error.code)
    # A policy naming an issuer the vault does not have is refused.
    policy = CertificatePolicy(issuer_name=name, subject="CN=issued.example")
    expect_status(lambda: cc.begin_create_certificate("py-issued-" + slug(v), policy=policy), 400, "BadParameter")


def cert_unknown_issuer_merge(v):
    cc = certs(v)
    name = "py-merge-" + slug(v)
    policy = CertificatePolicy(issuer_name="Unknown", subject="CN=merged.example")
    # The Python poller stops at once for issuer Unknown (its result is None
    # in this version): the operation is read directly.
    cc.begin_create_certificate(name, policy=policy, _polling_interval=0.1).wait()
    op = cc.get_certificate_operation(name)
    check(op.status == "inProgress" and op.csr and op.issuer_name == "Unknown", "Unknown issuer: pending with a CSR, got %s" % op.status)
    check("Perform Merge" in (op.status_details or ""), "status details: %s" % op.status_details)
    try:
        cc.get_certificate(name)
        raise AssertionError("a pending certificate has no version before the merge")
    except ResourceNotFoundError:
        pass
    # Sign the CSR with a CA of our own, as an external CA would.
    csr = x509.load_der_x509_csr(bytes(op.csr))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "merge test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    der = leaf.public_bytes(serialization.Encoding.DER)
    merged = cc.merge_certificate(name, [der])
    check(bytes(merged.cer) == der, "merged certificate is the one signed for the CSR")
    check(cc.get_certificate_operation(name).status == "completed", "operation completed after merge")
    sec = secrets().get_secret(name)
    key, got, _ = pkcs12.load_key_and_certificates(base64.b64decode(sec.value), None)
    check(key is not None and got.public_bytes(serialization.Encoding.DER) == der, "backing secret holds the key and the merged certificate")


# --- auth errors -------------------------------------------------------------


def wrong_client_secret():
    c = secrets(identity=(ADMIN[0], "not-the-secret"))
    try:
        c.get_secret("db-password")
    except ClientAuthenticationError as e:
        check("AADSTS7000215" in str(e), "want AADSTS7000215, got %s" % str(e)[:300])
        return
    raise AssertionError("wrong client secret was accepted")


def no_access_policy():
    c = secrets(identity=OUTSIDER)
    e = expect_status(lambda: c.get_secret("db-password"), 403, "Forbidden")
    check("does not have secrets get permission" in e.message, "403 message: %s" % e.message)


# --- runner ------------------------------------------------------------------


def cases():
    for v in SecretApiVersion:
        yield "secrets/lifecycle@" + v.value, lambda v=v: secret_lifecycle(v)
    yield "secrets/list-paging@default", secret_list_paging
    for v in KeyApiVersion:
        yield "keys/rsa-ec-ops@" + v.value, lambda v=v: key_ops(v)
    for v in CertApiVersion:
        yield "certificates/default-policy@" + v.value, lambda v=v: cert_default_policy(v)
        yield "certificates/import-pem@" + v.value, lambda v=v: cert_import_pem(v)
        yield "certificates/contacts-issuers@" + v.value, lambda v=v: cert_contacts_and_issuers(v)
        yield "certificates/unknown-issuer-merge@" + v.value, lambda v=v: cert_unknown_issuer_merge(v)
    yield "errors/wrong-client-secret", wrong_client_secret
    yield "errors/no-access-policy", no_access_policy


def main():
    only = sys.argv[1:]
    failed = 0
    for name, fn in cases():
        if only and not any(o in name for o in only):
            continue
        try:
            fn()
            print("PASS", name, flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
            failed += 1
            print("FAIL", name, flush=True)
            traceback.print_exc(file=sys.stdout)
    print("API_VERSIONS", json.dumps({k: sorted(v) for k, v in SENT.items()}, sort_keys=True), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
