"use strict";
// The telephone guides on the agent page (console/guide.py): while the call in the form
// is of 104 the agent searches Guiatel, of 4200224 the Guía Comercial. agent.js tells
// which call is in the form (DOM event "centralita:call"). A number "en reserva" comes
// without its number and is shown as such (procedure D, step 3). Text only (textContent).
(function () {
  const box = document.getElementById("guide");
  if (!box) return;
  // service key -> guide: SERVICE_GUIDES of console/guide.py, given by the page
  const KINDS = {
    telefonica: { label: "Buscar en Guiatel", hint: "Nombre, dirección o número" },
    comercial: { label: "Buscar en Guía Comercial", hint: "Nombre, rubro o número" },
  };
  const GUIDES = {};
  Object.entries(JSON.parse(box.dataset.guides || "{}")).forEach(([service, tipo]) => {
    if (KINDS[tipo]) GUIDES[service] = { tipo: tipo, label: KINDS[tipo].label, hint: KINDS[tipo].hint };
  });
  const form = document.getElementById("guide-form");
  const input = document.getElementById("guide-q");
  const label = document.getElementById("guide-label");
  const button = document.getElementById("guide-go");
  const state = document.getElementById("guide-state");
  const list = document.getElementById("guide-results");
  let guide = null;
  let callId = null;
  let asked = 0; // the latest search: an older answer arriving late is dropped

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function say(text, cls) { state.textContent = text; state.className = cls || "muted"; }

  function show(pop) {
    const next = pop ? GUIDES[pop.service] || null : null;
    const sameCall = pop && pop.call_id === callId;
    callId = pop ? pop.call_id : null;
    if (sameCall && next === guide) return; // the same call again: keep the search
    guide = next;
    box.hidden = !guide;
    list.replaceChildren(); say("");
    if (!guide) return;
    label.textContent = guide.label;
    input.placeholder = guide.hint;
    button.textContent = "Buscar";
    input.value = "";
  }

  function entry(r) {
    const li = el("li");
    li.append(el("strong", r.name));
    if (r.category) li.append(el("span", " · " + r.category, "muted"));
    if (r.reservado) {
      li.className = "reserved";
      li.append(el("div", "Número en reserva: no se informa", "reserved-note"));
      li.append(el("div", "Informe al cliente que no existe registro en el sistema.", "muted"));
    } else {
      li.append(el("div", r.number || "sin número registrado", "guide-number"));
    }
    const where = [r.address, r.locality].filter(Boolean).join(", ");
    if (where) li.append(el("div", where, "muted"));
    return li;
  }

  function search() {
    if (!guide) return;
    const text = input.value.trim();
    if (text.length < 2) { say("Escriba al menos 2 caracteres.", "error"); return; }
    const mine = ++asked;
    button.disabled = true;
    say("Buscando…");
    const url = "/api/guia?tipo=" + guide.tipo + "&q=" + encodeURIComponent(text);
    fetch(url, { credentials: "same-origin" }).then(async (r) => {
      const data = await r.json().catch(() => ({}));
      if (mine !== asked) return;
      if (!r.ok) {
        list.replaceChildren();
        say(data.error || "Directorio no disponible", "error");
        return;
      }
      const rows = data.resultados || [];
      list.replaceChildren(...rows.map(entry));
      if (!rows.length) {
        say("Sin resultados en " + data.guia + " para «" + text + "»: informe que no existe registro en el sistema.");
      } else {
        say(rows.length + (rows.length === 1 ? " resultado" : " resultados") + " en " + data.guia + " (" + data.fuente + ")");
      }
    }).catch(() => {
      if (mine === asked) { list.replaceChildren(); say("Directorio no disponible: sin conexión con el servidor.", "error"); }
    }).finally(() => { if (mine === asked) button.disabled = false; });
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); search(); });
  document.addEventListener("centralita:call", (e) => show(e.detail));
})();
