// The hosted challenge page. Opened as /challenge?token=<track token>
// (redirect mode) or with &mode=popup inside @authsignal/browser's popup or
// window; talks only to this worker's Client API with that token.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  // The track token until a verification here hands back an access token:
  // from then on calls carry that proof (adding a passkey needs it).
  let token = params.get("token");
  const popup = params.get("mode") === "popup";
  const api = location.origin + "/v1/client";
  const $ = (id) => document.getElementById(id);
  const METHOD_NAMES = {
    AUTHENTICATOR_APP: "Authenticator app",
    EMAIL_OTP: "Email code",
    EMAIL_MAGIC_LINK: "Email link",
    PASSKEY: "Passkey",
    RECOVERY_CODE: "Recovery code",
    SECURITY_KEY: "Security key",
    SMS: "Text message",
    WHATSAPP: "WhatsApp",
  };
  // Methods this page can complete (WebAuthn ones where the browser has it).
  const WEBAUTHN = ["PASSKEY", "SECURITY_KEY"];
  const SUPPORTED = ["AUTHENTICATOR_APP", "EMAIL_OTP", "EMAIL_MAGIC_LINK", "SMS", "WHATSAPP", "RECOVERY_CODE"]
    .concat(window.PublicKeyCredential && navigator.credentials ? WEBAUTHN : []);
  let polling = null;
  let current = null; // the method being used
  let info = null;

  // The page's language: the action's locale when this page is translated
  // into it (www/__actiongate/i18n.js), else English. Until the action is
  // read, the browser's.
  const I18N = window.ACTIONGATE_I18N || {};
  let lang = "en";
  function useLanguage(locale) {
    const base = String(locale || "").toLowerCase().split(/[-_]/)[0];
    lang = I18N[base] ? base : "en";
    document.documentElement.lang = lang;
    if (lang !== "en") translateStatic(document);
  }
  // A sentence in the page's language; `{name}` parts filled from `vars`.
  function t(english, vars) {
    let out = (I18N[lang] && I18N[lang].strings[english]) || english;
    for (const [k, v] of Object.entries(vars || {})) out = out.split(`{${k}}`).join(String(v));
    return out;
  }
  // The page's own words (in challenge.html), translated in place.
  function translateStatic(root) {
    const walker = document.createTreeWalker(root.body || root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.nodeValue.trim();
      if (text && t(text) !== text) n.nodeValue = n.nodeValue.replace(text, t(text));
    }
    for (const el of (root.body || root).querySelectorAll("[aria-label], [placeholder], [alt]")) {
      for (const a of ["aria-label", "placeholder", "alt"]) {
        const v = el.getAttribute(a);
        if (v && t(v) !== v) el.setAttribute(a, t(v));
      }
    }
    document.title = t(document.title);
  }

  // Inside a frame (popup mode is an iframe on the app's page), or opened in
  // popup mode: the page around or behind this one. Its origin comes from
  // the browser's list of framing origins or the referrer; the worker says
  // whether it is the app's (an origin of the redirect allowlist). Only then
  // does a frame show the challenge (so no other site can overlay it and
  // steer the user's clicks), and only then may the page receive the token.
  const framed = window.parent !== window;
  function openerOrigin() {
    try {
      const ancestors = location.ancestorOrigins;
      // Nested frames: more than one page around this one; none is trusted.
      if (ancestors && ancestors.length > 1) return null;
      if (ancestors && ancestors.length) return ancestors[0];
    } catch (e) { /* not available */ }
    try {
      if (document.referrer) return new URL(document.referrer).origin;
    } catch (e) { /* not a URL */ }
    return null;
  }
  const embedder = popup || framed ? openerOrigin() : null;
  let embedderAllowed = false;

  // Messages to the app's page. One that carries a token goes only to an
  // allowed origin, and the browser delivers it only if that is really the
  // opener's; the others (ready, errors) carry nothing secret.
  function post(message, secret) {
    const target = window.opener || (window.parent !== window ? window.parent : null);
    if (!target) return false;
    if (!secret) {
      target.postMessage(JSON.stringify(message), "*");
      return true;
    }
    if (!embedder || !embedderAllowed) return false;
    target.postMessage(JSON.stringify(message), embedder);
    return true;
  }

  // The person's words for an error code (www/__actiongate/messages.js),
  // never the API's developer text; a wait says how long.
  function humanMessage(code, retryAfter) {
    const secs = Number(retryAfter);
    if (code === "too_many_requests" && secs > 0) {
      const minutes = Math.ceil(secs / 60);
      return secs < 90 ? t("Too many attempts. Try again in a minute.")
        : minutes < 90 ? t("Too many attempts. Try again in {minutes} minutes.", { minutes })
          : t("Too many attempts. Try again in {hours} hours.", { hours: Math.ceil(minutes / 60) });
    }
    const translated = (I18N[lang] && I18N[lang].messages) || {};
    const messages = window.ACTIONGATE_MESSAGES || {};
    return translated[code] || messages[code] || t("Something went wrong. Try again, or go back to the app.");
  }

  // The deployment's branding (its variables, checked by the worker): name,
  // logo, colour, where to get help.
  function brand(b) {
    if (b.name) {
      $("brand-name").textContent = b.name;
      document.title = `${t("Confirm it's you")} · ${b.name}`;
    }
    if (b.logoUrl) {
      $("brand-logo").src = b.logoUrl;
      $("brand-logo").alt = b.name || "";
      $("brand-logo").hidden = false;
    }
    if (b.name || b.logoUrl) $("brand").hidden = false;
    if (b.color) document.documentElement.style.setProperty("--accent", b.color);
    if (b.supportUrl) {
      $("support-link").href = b.supportUrl;
      $("support").hidden = false;
    }
  }

  async function call(method, path, body) {
    const r = await fetch(api + path, {
      method,
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      post({ event: "AUTHSIGNAL_API_ERROR", errorCode: data.errorCode, statusCode: r.status });
      const e = new Error(humanMessage(data.errorCode, r.headers.get("Retry-After")));
      e.code = data.errorCode;
      e.retryAfter = r.headers.get("Retry-After");
      throw e;
    }
    return data;
  }

  // WebAuthn JSON (as @simplewebauthn/browser writes it) <-> browser objects.
  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function fromBuf(buf) {
    let s = "";
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: toBuf(c.id) }));
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: fromBuf(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = fromBuf(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = fromBuf(r.authenticatorData);
      response.signature = fromBuf(r.signature);
      if (r.userHandle) response.userHandle = fromBuf(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: fromBuf(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response,
    };
  }
  function webauthnMessage(e) {
    if (e && e.name === "NotAllowedError") return t("The request was cancelled or timed out. Try again.");
    if (e && e.name === "InvalidStateError") return t("This device already has a passkey for you.");
    return t("Something went wrong. Try again, or go back to the app.");
  }

  // Register a passkey (or security key); resolves with the Client API's answer.
  async function registerWebAuthn(method) {
    const kind = method === "SECURITY_KEY" ? "security-key" : "passkey";
    const r = await call("POST", `/user-authenticators/${kind}/registration-options`, {});
    const options = r.options || r;
    const cred = await navigator.credentials.create({
      publicKey: {
        ...options,
        challenge: toBuf(options.challenge),
        user: { ...options.user, id: toBuf(options.user.id) },
        excludeCredentials: descriptors(options.excludeCredentials),
      },
    });
    // The security key routes take the credential itself, as the SDK sends it.
    return call("POST", `/user-authenticators/${kind}`, method === "SECURITY_KEY"
      ? credentialJSON(cred)
      : { registrationCredential: credentialJSON(cred), challengeId: r.challengeId });
  }

  // Sign in with an enrolled passkey (or security key) for this action.
  async function signInWebAuthn(method) {
    const kind = method === "SECURITY_KEY" ? "security-key" : "passkey";
    const r = await call("POST", `/user-authenticators/${kind}/authentication-options`, {});
    const options = r.options || r;
    const cred = await navigator.credentials.get({
      publicKey: {
        ...options,
        challenge: toBuf(options.challenge),
        allowCredentials: descriptors(options.allowCredentials),
      },
    });
    return call("POST", `/verify/${kind}`, method === "SECURITY_KEY"
      ? credentialJSON(cred)
      : { authenticationCredential: credentialJSON(cred), challengeId: r.challengeId });
  }

  function startWebAuthn(method) {
    const key = method === "SECURITY_KEY";
    const allowed = info.allowedVerificationMethods;
    // Either kind the action allows can sign in: the worker offers both.
    const enrolled = (info.hasPasskey && allowed.includes("PASSKEY")) ||
      (info.hasSecurityKey && allowed.includes("SECURITY_KEY"));
    $("passkey-text").textContent = enrolled
      ? t(key ? "Confirm with your security key." : "Confirm with your passkey.")
      : t(key ? "Create a security key on this device to confirm. You can use it next time too."
        : "Create a passkey on this device to confirm. You can use it next time too.");
    $("passkey-go").textContent = t(enrolled ? (key ? "Use security key" : "Use passkey")
      : (key ? "Create security key" : "Create passkey"));
    $("passkey-error").textContent = "";
    $("passkey").hidden = false;
    $("passkey-go").onclick = async () => {
      $("passkey-error").textContent = "";
      $("passkey-go").disabled = true;
      try {
        const r = enrolled ? await signInWebAuthn(method) : await registerWebAuthn(method);
        if (!enrolled && r.state === "CHALLENGE_REQUIRED") {
          // Added after proving another method; confirming with it is a
          // second tap (browsers want a gesture for each ceremony).
          if (key) info.hasSecurityKey = true;
          else info.hasPasskey = true;
          note(t(key ? "Added. Now confirm with your new security key." : "Added. Now confirm with your new passkey."));
          startWebAuthn(method);
          return;
        }
        if ((r.state === "CHALLENGE_SUCCEEDED" || r.state === "REVIEW_REQUIRED") && r.recoveryCodes) {
          $("passkey").hidden = true;
          showRecoveryCodes(r.recoveryCodes, () => finish(r.accessToken, info));
        } else if (r.state === "CHALLENGE_SUCCEEDED" || r.state === "REVIEW_REQUIRED") {
          finish(r.accessToken, info);
        } else {
          $("passkey-error").textContent = t("That did not confirm the request.");
        }
      } catch (e) {
        $("passkey-error").textContent = e.code ? e.message : webauthnMessage(e);
      } finally {
        $("passkey-go").disabled = false;
      }
    };
    $("passkey-go").focus();
  }

  // After a challenge passed with another method: offer a passkey, once.
  async function offerPasskey(accessToken, info) {
    let now;
    try {
      now = await call("GET", "/action");
    } catch (e) {
      return false;
    }
    if (!now.promptPasskey || !SUPPORTED.includes("PASSKEY")) return false;
    $("done").hidden = true;
    $("prompt").hidden = false;
    $("prompt-add").focus();
    await new Promise((resolve) => {
      $("prompt-skip").onclick = async () => {
        await call("POST", "/user-authenticators/passkey/skip-prompt", {}).catch(() => {});
        resolve();
      };
      $("prompt-add").onclick = async () => {
        $("prompt-error").textContent = "";
        $("prompt-add").disabled = true;
        try {
          await registerWebAuthn("PASSKEY");
          resolve();
        } catch (e) {
          $("prompt-error").textContent = e.code ? e.message : webauthnMessage(e);
        } finally {
          $("prompt-add").disabled = false;
        }
      };
    });
    $("prompt").hidden = true;
    $("done").hidden = false;
    return true;
  }

  function note(text) {
    $("note").textContent = text;
    $("note").hidden = !text;
  }

  function status(text) {
    $("status").textContent = text;
    $("status").hidden = !text;
  }

  async function finish(accessToken, info) {
    if (accessToken) token = accessToken;
    $("cancel-row").hidden = true;
    $("code-form").hidden = true;
    $("enroll").hidden = true;
    $("methods").hidden = true;
    $("passkey").hidden = true;
    $("done").hidden = false;
    $("done").textContent = t("Verified. You can continue.");
    status("");
    // The offer needs the proof only a just-verified client holds.
    if (accessToken && current !== "PASSKEY") await offerPasskey(accessToken, info);
    if (popup) {
      if (!post({ event: "AUTHSIGNAL_CLOSE_POPUP", token }, true)) {
        $("done").textContent = t("Verified, but this window was opened from a site that may not receive the result. Close it and start again from the app.");
      }
      return;
    }
    if (info.redirectUrl) {
      const url = new URL(info.redirectUrl);
      url.searchParams.set("token", token);
      $("done").textContent = t("Verified. Taking you back…");
      location.assign(url.toString());
    }
  }

  // "Cancel this request": the action is refused (CHALLENGE_FAILED, its
  // history says the person cancelled) and the person goes back the way a
  // verified one would, so the app learns it at once; nothing is done.
  async function cancel(info) {
    $("cancel").disabled = true;
    try {
      await call("POST", "/action/cancel");
    } catch (e) {
      $("cancel").disabled = false;
      status(e.message);
      return;
    }
    for (const id of ["code-form", "enroll", "methods", "passkey", "email-form", "sms-form"]) $(id).hidden = true;
    $("cancel-row").hidden = true;
    if (popup && post({ event: "AUTHSIGNAL_CLOSE_POPUP", token }, true)) return;
    if (info.redirectUrl) {
      const url = new URL(info.redirectUrl);
      url.searchParams.set("token", token);
      $("done").hidden = false;
      $("done").textContent = t("Cancelled. Taking you back…");
      location.assign(url.toString());
      return;
    }
    showFailure(t("You cancelled this request, so nothing was done. Go back to the app."));
  }

  function showFailure(text) {
    $("cancel-row").hidden = true;
    $("code-form").hidden = true;
    $("enroll").hidden = true;
    $("methods").hidden = true;
    status(text);
    // A way back: the app's site (where the request came from).
    let back = "/";
    try {
      if (info && info.redirectUrl) back = new URL(info.redirectUrl).origin + "/";
    } catch (e) { /* keep "/" */ }
    $("back-link").href = back;
    $("back").hidden = false;
  }

  // The code field takes six digits, or a recovery code (xxxxx-xxxxx).
  function codeShape(recovery) {
    const input = $("code");
    input.inputMode = recovery ? "text" : "numeric";
    input.autocomplete = recovery ? "off" : "one-time-code";
    input.maxLength = recovery ? 11 : 6;
    if (recovery) input.removeAttribute("pattern");
    else input.pattern = "[0-9]{6}";
    input.autocapitalize = "off";
    input.spellcheck = false;
  }

  // New recovery codes, shown once (they came with the first way of
  // confirming this person set up); `then` goes on once they are saved.
  function showRecoveryCodes(codes, then) {
    const list = $("recovery-codes");
    list.textContent = "";
    for (const c of codes) {
      const li = document.createElement("li");
      li.textContent = c;
      list.append(li);
    }
    for (const id of ["code-form", "enroll", "methods", "passkey", "email-form", "sms-form"]) $(id).hidden = true;
    $("recovery").hidden = false;
    $("copy-recovery").onclick = async () => {
      try {
        await navigator.clipboard.writeText(codes.join("\n"));
        $("copy-recovery").textContent = t("Copied");
      } catch (err) {
        $("copy-recovery").textContent = t("Select the codes to copy them");
      }
    };
    $("recovery-saved").onclick = () => { $("recovery").hidden = true; then(); };
    $("recovery-saved").focus();
  }

  // `resend` sends another code (for codes sent by email or text); `change`
  // brings back the address or number form (while enrolling one).
  function showCodeForm(label, resend, change, changeLabel) {
    $("code-label").textContent = label;
    $("code-form").hidden = false;
    $("code").value = "";
    $("code-error").textContent = "";
    $("code-actions").hidden = !resend;
    $("resend").onclick = resend || null;
    $("change-destination").hidden = !change;
    $("change-destination").textContent = t(changeLabel || "Use another address");
    $("change-destination").onclick = change || null;
    $("code").focus();
  }

  function waitForLink() {
    status(t("We emailed you a link. Open it (on any device) and this page continues by itself."));
    clearInterval(polling);
    polling = setInterval(async () => {
      try {
        const r = await call("POST", "/verify/email-magic-link/finalize", {});
        if (r.isVerified) {
          clearInterval(polling);
          finish(r.accessToken, info);
        }
      } catch (e) {
        clearInterval(polling);
        showFailure(e.message);
      }
    }, 1500);
  }

  async function sendEmailCode(email) {
    $("email-error").textContent = "";
    $("send").disabled = true;
    const link = current === "EMAIL_MAGIC_LINK";
    try {
      if (link) {
        if (email) await call("POST", "/user-authenticators/email-magic-link", { email });
        else await call("POST", "/challenge/email-magic-link", {});
        $("email-form").hidden = true;
        waitForLink();
        return;
      }
      if (email) await call("POST", "/user-authenticators/email-otp", { email });
      else await call("POST", "/challenge/email-otp", {});
      $("email-form").hidden = true;
      showCodeForm(email ? t("Code we emailed you at {address}", { address: email }) : t("Code we emailed you"),
        () => sendEmailCode(email),
        email ? () => { $("code-form").hidden = true; status(""); $("email-form").hidden = false; $("email").select(); $("email").focus(); } : null);
      status(t("We sent a 6-digit code. It is valid for 10 minutes."));
    } catch (e) {
      if (e.code === "code_recently_sent" && link) {
        // A link went out moments ago (say, before a reload): it still works.
        $("email-form").hidden = true;
        waitForLink();
      } else if (e.code === "code_recently_sent") {
        $("email-form").hidden = true;
        showCodeForm(t("Code we emailed you"));
        status(t("We sent you a code moments ago: use that one."));
      } else {
        $("email-error").textContent = e.message;
      }
    } finally {
      $("send").disabled = false;
    }
  }

  async function startEmail(info) {
    $("enroll").hidden = true;
    $("code-form").hidden = true;
    $("send").textContent = t(current === "EMAIL_MAGIC_LINK" ? "Email me a link" : "Send code");
    if (info.enrolledVerificationMethods.includes(current)) {
      await sendEmailCode(null);
    } else {
      $("email-form").hidden = false;
      $("email").focus();
    }
  }

  // A code to a phone, by text message (SMS) or WhatsApp (the method being used).
  async function sendSmsCode(phone) {
    $("phone-error").textContent = "";
    $("send-sms").disabled = true;
    const whatsapp = current === "WHATSAPP";
    const kind = whatsapp ? "whatsapp" : "sms";
    const label = (number) => whatsapp
      ? (number ? t("Code we sent you on WhatsApp at {number}", { number }) : t("Code we sent you on WhatsApp"))
      : (number ? t("Code we texted you at {number}", { number }) : t("Code we texted you"));
    try {
      if (phone) await call("POST", `/user-authenticators/${kind}`, { phoneNumber: phone });
      else await call("POST", `/challenge/${kind}`, {});
      $("sms-form").hidden = true;
      showCodeForm(label(phone),
        () => sendSmsCode(phone),
        phone ? () => { $("code-form").hidden = true; status(""); $("sms-form").hidden = false; $("phone").select(); $("phone").focus(); } : null,
        "Use another number");
      status(t("We sent a 6-digit code. It is valid for 10 minutes."));
    } catch (e) {
      if (e.code === "code_recently_sent") {
        $("sms-form").hidden = true;
        showCodeForm(label(null));
        status(t("We sent you a code moments ago: use that one."));
      } else {
        $("phone-error").textContent = e.message;
      }
    } finally {
      $("send-sms").disabled = false;
    }
  }

  async function start(method) {
    current = method;
    clearInterval(polling);
    $("sms-form").hidden = true;
    $("email-form").hidden = true;
    $("enroll").hidden = true;
    $("code-form").hidden = true;
    $("passkey").hidden = true;
    status("");
    if (WEBAUTHN.includes(method)) startWebAuthn(method);
    codeShape(method === "RECOVERY_CODE");
    if (method === "AUTHENTICATOR_APP") await startAuthenticatorApp(info);
    if (method === "RECOVERY_CODE") showCodeForm(t("One of your recovery codes"));
    if (method === "EMAIL_OTP" || method === "EMAIL_MAGIC_LINK") await startEmail(info);
    if (method === "SMS" || method === "WHATSAPP") {
      if (info.enrolledVerificationMethods.includes(method)) await sendSmsCode(null);
      else {
        $("sms-form").hidden = false;
        $("phone").focus();
      }
    }
  }

  async function startAuthenticatorApp(info) {
    if (!info.hasAuthenticatorApp) {
      const e = await call("POST", "/user-authenticators/totp", {});
      $("qr").innerHTML = e.qrCodeSvg || ""; // generated by this worker, not user input
      // The key in groups of four, easier to type; copied and linked whole.
      $("secret").textContent = e.secret.replace(/(.{4})(?=.)/g, "$1 ");
      $("copy-secret").onclick = async () => {
        try {
          await navigator.clipboard.writeText(e.secret);
          $("copy-secret").textContent = t("Copied");
        } catch (err) {
          $("copy-secret").textContent = t("Select the key to copy it");
        }
      };
      $("otpauth").href = e.uri;
      $("enroll").hidden = false;
    }
    showCodeForm(t("Code from your authenticator app"));
  }

  // A passkey-only request and a user without one who has another method:
  // that method proves them, then they create the passkey (see docs/passkeys.md).
  let needed = null;
  function renderMethods(info) {
    const webauthnOnly = info.allowedVerificationMethods.length > 0 &&
      info.allowedVerificationMethods.every((m) => WEBAUTHN.includes(m));
    const unlock = (info.unlockMethods || []).filter((m) => SUPPORTED.includes(m));
    if (webauthnOnly && unlock.length > 0 && !info.enrollmentUnlocked &&
        info.allowedVerificationMethods.some((m) => SUPPORTED.includes(m))) {
      needed = info.allowedVerificationMethods.find((m) => SUPPORTED.includes(m));
      note(t(needed === "SECURITY_KEY"
        ? "This request needs a security key, and you have none yet. First confirm it's you with a method you have; then create one."
        : "This request needs a passkey, and you have none yet. First confirm it's you with a method you have; then create one."));
      return renderList(unlock, [info.defaultVerificationMethod, ...unlock].find((m) => unlock.includes(m)));
    }
    // The allowed methods this person can complete now (the worker knows what
    // they have and what they may add), in the configured order.
    const usable = (info.usableVerificationMethods ?? info.allowedVerificationMethods)
      .filter((m) => SUPPORTED.includes(m));
    if (usable.length === 0) {
      showFailure(t("This request needs a way of confirming it's you that isn't set up on your account yet, so it can't be completed here. Go back to the app to set one up or to choose another way."));
      return null;
    }
    const preferred = [info.defaultVerificationMethod, ...info.enrolledVerificationMethods, ...usable]
      .find((m) => usable.includes(m));
    return renderList(usable, preferred);
  }

  function renderList(usable, preferred) {
    const list = $("method-list");
    list.textContent = "";
    for (const m of usable) {
      const row = document.createElement("label");
      row.className = "method";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "method";
      input.value = m;
      input.checked = m === preferred;
      input.addEventListener("change", () => { if (input.checked) start(m); });
      row.append(input, document.createTextNode(t(METHOD_NAMES[m] || m)));
      list.append(row);
    }
    $("methods").hidden = usable.length < 2;
    return preferred;
  }

  async function main() {
    if (!token) {
      useLanguage(navigator.language);
      showFailure(t("This link is incomplete. Start again from the app."));
      return;
    }
    try {
      info = await call("GET", "/action" + (embedder ? "?embedder=" + encodeURIComponent(embedder) : ""));
      embedderAllowed = info.embedderAllowed === true;
    } catch (e) {
      // No action to take the language from: the browser's.
      useLanguage(navigator.language);
      showFailure(e.code === "expired_token" ? t("This link has expired. Start again from the app.")
        : humanMessage(e.code, e.retryAfter));
      return;
    }
    useLanguage(info.locale);
    if (framed && !embedderAllowed) {
      showFailure(t("This page cannot be shown inside another site. Open it from the app."));
      return;
    }
    brand(info.branding || {});
    post({ event: "AUTHSIGNAL_READY" });
    if (info.messageHtml) {
      $("message").innerHTML = info.messageHtml; // escaped by the worker
      $("message").hidden = false;
    }
    if (info.reasonHtml) {
      // Why the deciding rule asks, in the customer's words (escaped by the worker).
      const label = document.createElement("strong");
      label.textContent = t("Why we ask:");
      const text = document.createElement("span");
      text.innerHTML = info.reasonHtml;
      $("reason").replaceChildren(label, " ", text);
      $("reason").hidden = false;
    }
    if (info.verified && (info.state === "CHALLENGE_SUCCEEDED" || info.state === "REVIEW_REQUIRED")) {
      // Verified already (the page reloaded, went back, or the link was
      // opened again): say so and continue to the app.
      finish(undefined, info);
      return;
    }
    if (info.state !== "CHALLENGE_REQUIRED") {
      showFailure(info.state === "CHALLENGE_FAILED"
        ? t("This request was cancelled or could not be verified, so nothing was done. Start again from the app.")
        : t("There is nothing left to verify for this request. Go back to the app to continue."));
      return;
    }
    status("");
    $("cancel-row").hidden = false;
    $("cancel").addEventListener("click", () => cancel(info));
    const method = renderMethods(info);
    if (needed) $("methods").hidden = false;
    if (method) await start(method);

    $("sms-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const phone = $("phone").value.replace(/[\s()-]/g, "");
      if (!/^\+[0-9]{8,15}$/.test(phone)) {
        $("phone-error").textContent = t("Enter your number with its country code, starting with +.");
        $("phone").focus();
        return;
      }
      await sendSmsCode(phone);
    });

    $("email-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const email = $("email").value.trim();
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
        $("email-error").textContent = t("Enter your email address.");
        $("email").focus();
        return;
      }
      await sendEmailCode(email);
    });

    $("code-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const code = $("code").value.trim();
      $("code-error").textContent = "";
      const recovery = current === "RECOVERY_CODE";
      if (recovery ? !/^[0-9a-z]{5}[- ]?[0-9a-z]{5}$/i.test(code) : !/^[0-9]{6}$/.test(code)) {
        $("code-error").textContent = t(recovery ? "Enter one of your recovery codes, like abcde-12345." : "Enter the 6-digit code.");
        $("code").focus();
        return;
      }
      $("submit").disabled = true;
      try {
        const path = { EMAIL_OTP: "/verify/email-otp", SMS: "/verify/sms", WHATSAPP: "/verify/whatsapp", RECOVERY_CODE: "/verify/recovery-code" }[current] || "/verify/totp";
        const r = await call("POST", path, { verificationCode: code });
        if (r.isVerified && r.accessToken) token = r.accessToken;
        if (r.isVerified && r.recoveryCodes) {
          // Saved first, then on as below.
          const go = r.state === "CHALLENGE_REQUIRED" ? () => start(needed) : () => finish(r.accessToken, info);
          showRecoveryCodes(r.recoveryCodes, go);
          return;
        }
        if (r.isVerified && r.state === "CHALLENGE_REQUIRED") {
          // That proved the user; this passkey-only request still needs a passkey.
          $("code-form").hidden = true;
          $("methods").hidden = true;
          note(t(needed === "SECURITY_KEY" ? "Thanks. Now create the security key this request needs." : "Thanks. Now create the passkey this request needs."));
          start(needed);
        } else if (r.isVerified) {
          finish(r.accessToken, info);
        } else if (r.failureReason === "MAX_ATTEMPTS_EXCEEDED") {
          showFailure(t("Too many wrong codes: this request was refused. Start again from the app."));
        } else {
          const left = r.remainingAttempts;
          $("code-error").textContent = t("That code is not right.") +
            (left === 0 ? " " + t("One more wrong code will refuse this request.")
              : left === 1 ? " " + t("One attempt left.")
                : left !== undefined ? " " + t("{count} attempts left.", { count: left }) : "");
          $("code").select();
          $("code").focus();
        }
      } catch (e) {
        $("code-error").textContent = e.message;
      } finally {
        $("submit").disabled = false;
      }
    });
  }

  main();
})();
