// The hosted challenge page. Opened as /challenge?token=<track token>
// (redirect mode) or with &mode=popup inside @authsignal/browser's popup or
// window; talks only to this worker's Client API with that token.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const popup = params.get("mode") === "popup";
  const api = location.origin + "/v1/client";
  const $ = (id) => document.getElementById(id);
  const METHOD_NAMES = {
    AUTHENTICATOR_APP: "Authenticator app",
    EMAIL_OTP: "Email code",
    EMAIL_MAGIC_LINK: "Email link",
    PASSKEY: "Passkey",
    SECURITY_KEY: "Security key",
    SMS: "Text message",
  };
  // Methods this page can complete today.
  const SUPPORTED = ["AUTHENTICATOR_APP", "EMAIL_OTP", "EMAIL_MAGIC_LINK", "SMS"];
  let polling = null;
  let current = null; // the method being used
  let info = null;

  function post(message) {
    const target = window.opener || (window.parent !== window ? window.parent : null);
    if (target) target.postMessage(JSON.stringify(message), "*");
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
      const e = new Error(data.errorDescription || "Something went wrong.");
      e.code = data.errorCode;
      throw e;
    }
    return data;
  }

  function status(text) {
    $("status").textContent = text;
    $("status").hidden = !text;
  }

  function finish(accessToken, info) {
    $("code-form").hidden = true;
    $("enroll").hidden = true;
    $("methods").hidden = true;
    $("done").hidden = false;
    $("done").textContent = "Verified. You can continue.";
    status("");
    if (popup) {
      post({ event: "AUTHSIGNAL_CLOSE_POPUP", token: accessToken });
      return;
    }
    if (info.redirectUrl) {
      const url = new URL(info.redirectUrl);
      url.searchParams.set("token", accessToken);
      $("done").textContent = "Verified. Taking you back…";
      location.assign(url.toString());
    }
  }

  function showFailure(text) {
    $("code-form").hidden = true;
    $("enroll").hidden = true;
    status(text);
  }

  function showCodeForm(label) {
    $("code-label").textContent = label;
    $("code-form").hidden = false;
    $("code").value = "";
    $("code-error").textContent = "";
    $("code").focus();
  }

  function waitForLink() {
    status("We emailed you a link. Open it (on any device) and this page continues by itself.");
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
      showCodeForm("Code we emailed you" + (email ? " at " + email : ""));
      status("We sent a 6-digit code. It is valid for 10 minutes.");
    } catch (e) {
      $("email-error").textContent = e.message;
    } finally {
      $("send").disabled = false;
    }
  }

  async function startEmail(info) {
    $("enroll").hidden = true;
    $("code-form").hidden = true;
    $("send").textContent = current === "EMAIL_MAGIC_LINK" ? "Email me a link" : "Send code";
    if (info.enrolledVerificationMethods.includes(current)) {
      await sendEmailCode(null);
    } else {
      $("email-form").hidden = false;
      $("email").focus();
    }
  }

  async function sendSmsCode(phone) {
    $("phone-error").textContent = "";
    $("send-sms").disabled = true;
    try {
      if (phone) await call("POST", "/user-authenticators/sms", { phoneNumber: phone });
      else await call("POST", "/challenge/sms", {});
      $("sms-form").hidden = true;
      showCodeForm("Code we texted you" + (phone ? " at " + phone : ""));
      status("We sent a 6-digit code. It is valid for 10 minutes.");
    } catch (e) {
      $("phone-error").textContent = e.message;
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
    status("");
    if (method === "AUTHENTICATOR_APP") await startAuthenticatorApp(info);
    if (method === "EMAIL_OTP" || method === "EMAIL_MAGIC_LINK") await startEmail(info);
    if (method === "SMS") {
      if (info.enrolledVerificationMethods.includes("SMS")) await sendSmsCode(null);
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
      $("secret").textContent = e.secret;
      $("enroll").hidden = false;
    }
    showCodeForm("Code from your authenticator app");
  }

  function renderMethods(info) {
    const usable = info.allowedVerificationMethods.filter((m) => SUPPORTED.includes(m));
    if (usable.length === 0) {
      showFailure("None of the verification methods this action allows can be used here yet.");
      return null;
    }
    const preferred = [info.defaultVerificationMethod, ...info.enrolledVerificationMethods, ...usable]
      .find((m) => usable.includes(m));
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
      row.append(input, document.createTextNode(METHOD_NAMES[m] || m));
      list.append(row);
    }
    $("methods").hidden = usable.length < 2;
    return preferred;
  }

  async function main() {
    if (!token) {
      showFailure("This link is incomplete: it has no token.");
      return;
    }
    try {
      info = await call("GET", "/action");
    } catch (e) {
      showFailure(e.code === "expired_token" ? "This link has expired. Start again from the app." : e.message);
      return;
    }
    post({ event: "AUTHSIGNAL_READY" });
    if (info.messageHtml) {
      $("message").innerHTML = info.messageHtml; // escaped by the worker
      $("message").hidden = false;
    }
    if (info.state !== "CHALLENGE_REQUIRED") {
      showFailure(info.state === "CHALLENGE_FAILED"
        ? "Too many wrong codes: this request was refused. Start again from the app."
        : "There is nothing to verify for this request.");
      return;
    }
    status("");
    const method = renderMethods(info);
    if (method) await start(method);

    $("sms-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const phone = $("phone").value.replace(/[\s()-]/g, "");
      if (!/^\+[0-9]{8,15}$/.test(phone)) {
        $("phone-error").textContent = "Enter your number with its country code, starting with +.";
        $("phone").focus();
        return;
      }
      await sendSmsCode(phone);
    });

    $("email-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const email = $("email").value.trim();
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
        $("email-error").textContent = "Enter your email address.";
        $("email").focus();
        return;
      }
      await sendEmailCode(email);
    });

    $("code-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const code = $("code").value.trim();
      $("code-error").textContent = "";
      if (!/^[0-9]{6}$/.test(code)) {
        $("code-error").textContent = "Enter the 6-digit code.";
        $("code").focus();
        return;
      }
      $("submit").disabled = true;
      try {
        const path = { EMAIL_OTP: "/verify/email-otp", SMS: "/verify/sms" }[current] || "/verify/totp";
        const r = await call("POST", path, { verificationCode: code });
        if (r.isVerified) {
          finish(r.accessToken, info);
        } else if (r.failureReason === "MAX_ATTEMPTS_EXCEEDED") {
          showFailure("Too many wrong codes: this request was refused. Start again from the app.");
        } else {
          const left = r.remainingAttempts;
          $("code-error").textContent = "That code is not right." +
            (left === 0 ? " One more wrong code will refuse this request." : left !== undefined ? ` ${left} attempts left.` : "");
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
