// A console page whose session ended (signed out elsewhere, password changed, expired,
// daemon without its key) goes to the sign-in page, which says why. Loaded before the
// page's own scripts: it watches their API answers (fetch) and event streams.
"use strict";
(() => {
  let leaving = false;

  function leave(reason) {
    if (leaving) return;
    leaving = true;
    const motivo = encodeURIComponent(reason || "sin_sesion");
    window.location.assign("/ingresar?motivo=" + motivo);
  }

  async function reasonOf(response) {
    try {
      const body = await response.clone().json();
      return body && body.motivo;
    } catch (_err) {
      return "";
    }
  }

  const plainFetch = window.fetch.bind(window);
  function isApi(input) {
    const url = new URL(typeof input === "string" ? input : input.url, window.location.href);
    return url.origin === window.location.origin && url.pathname.startsWith("/api/");
  }
  window.fetch = async (input, init) => {
    const response = await plainFetch(input, init);
    if (response.status === 401 && isApi(input)) leave(await reasonOf(response));
    return response;
  };

  let checking = false;
  async function check() {
    if (checking || leaving) return;
    checking = true;
    try {
      const response = await plainFetch("/api/yo", { credentials: "same-origin" });
      if (response.status === 401) leave(await reasonOf(response));
    } catch (_err) {
      // the daemon is unreachable: the pages' own indicators show it; check again later
    } finally {
      checking = false;
    }
  }

  // An event stream that fails may be a session that ended: ask at once.
  const PlainEventSource = window.EventSource;
  if (PlainEventSource) {
    window.EventSource = function (url, options) {
      const source = new PlainEventSource(url, options);
      source.addEventListener("error", () => { check(); });
      return source;
    };
    window.EventSource.prototype = PlainEventSource.prototype;
    Object.assign(window.EventSource, {
      CONNECTING: PlainEventSource.CONNECTING,
      OPEN: PlainEventSource.OPEN,
      CLOSED: PlainEventSource.CLOSED,
    });
  }

  window.setInterval(check, 20000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") check();
  });
  window.addEventListener("online", check);
})();
