// A software WebAuthn authenticator for API-level tests: a P-256 key made
// with node:crypto, attestation "none", a counter that counts up. It builds
// the same JSON @simplewebauthn/browser sends, so tests can exercise the
// passkey routes without a browser (the browser tests use Chromium's
// virtual authenticator instead).
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const sha256 = (b) => createHash("sha256").update(b).digest();
const b64url = (b) => Buffer.from(b).toString("base64url");

/** Minimal CBOR: unsigned/negative integers, byte and text strings, maps. */
function cbor(v) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof v === "number") return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (typeof v === "string") {
    const b = Buffer.from(v, "utf8");
    return Buffer.concat([head(3, b.length), b]);
  }
  if (v instanceof Map) {
    const parts = [head(5, v.size)];
    for (const [k, x] of v) parts.push(cbor(k), cbor(x));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: unsupported ${typeof v}`);
}

export class SoftKey {
  /** @param {{rpId: string, origin: string, userHandle?: string, userVerified?: boolean, aaguid?: string}} o */
  constructor({ rpId, origin, userHandle, userVerified = true, aaguid }) {
    this.rpId = rpId;
    // The model it attests to (all zeros, as most passkeys under "none" attestation).
    this.aaguid = aaguid ? Buffer.from(aaguid.replaceAll("-", ""), "hex") : Buffer.alloc(16);
    this.origin = origin;
    this.userHandle = userHandle;
    this.uv = userVerified;
    this.id = randomBytes(16);
    this.counter = 0;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    this.jwk = publicKey.export({ format: "jwk" });
  }

  get credentialId() {
    return b64url(this.id);
  }

  authData(extra) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const flags = 0x01 | (this.uv ? 0x04 : 0) | (extra ? 0x40 : 0);
    return Buffer.concat([sha256(this.rpId), Buffer.from([flags]), counter, extra ?? Buffer.alloc(0)]);
  }

  clientData(type, challenge) {
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create() for `options` (PublicKeyCredentialCreationOptionsJSON). */
  register(options) {
    this.counter += 1;
    if (options.user?.id) this.userHandle = options.user.id;
    const cose = cbor(new Map([
      [1, 2], [3, -7], [-1, 1],
      [-2, Buffer.from(this.jwk.x, "base64url")],
      [-3, Buffer.from(this.jwk.y, "base64url")],
    ]));
    const len = Buffer.alloc(2);
    len.writeUInt16BE(this.id.length);
    const authData = this.authData(Buffer.concat([this.aaguid, len, this.id, cose]));
    const att = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: "public-key",
      authenticatorAttachment: "platform",
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(this.clientData("webauthn.create", options.challenge)),
        attestationObject: b64url(att),
        transports: ["internal"],
      },
    };
  }

  /** navigator.credentials.get() for `options` (PublicKeyCredentialRequestOptionsJSON). */
  assert(options) {
    this.counter += 1;
    const authData = this.authData();
    const cd = this.clientData("webauthn.get", options.challenge);
    const signature = sign("sha256", Buffer.concat([authData, sha256(cd)]), this.privateKey);
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: "public-key",
      authenticatorAttachment: "platform",
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(cd),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: this.userHandle,
      },
    };
  }
}
