// Escrow review console of the axiom control plane.
//
// Every value from the API is rendered with textContent or as an element attribute, never as
// HTML. The bearer token lives in sessionStorage of this tab and travels only in the
// Authorization header.

const TOKEN_KEY = "axiom.console.token";

/** Actions the API accepts per status. The console disables the other buttons. */
const ACTIONS_BY_STATUS = {
  PENDING: ["approve", "cancel"],
  APPROVED: ["cancel", "execute"],
};

const elements = {
  body: document.body,
  status: document.getElementById("status"),
  tokenForm: document.getElementById("token-form"),
  tokenInput: document.getElementById("token"),
  forgetToken: document.getElementById("forget-token"),
  filterForm: document.getElementById("filter-form"),
  statusFilter: document.getElementById("status-filter"),
  rows: document.getElementById("escrow-rows"),
  detail: document.getElementById("detail"),
  detailId: document.getElementById("detail-id"),
  detailFields: document.getElementById("detail-fields"),
  decision: document.getElementById("decision"),
  detailIntent: document.getElementById("detail-intent"),
  detailHistory: document.getElementById("detail-history"),
  approve: document.getElementById("approve"),
  cancel: document.getElementById("cancel"),
  cancelReason: document.getElementById("cancel-reason"),
  execute: document.getElementById("execute"),
  actionResult: document.getElementById("action-result"),
};

let selectedEscrowId = null;

// A script error anywhere marks the page, so a person and the page test both see it.
window.addEventListener("error", (event) => markFailed(event.message));
window.addEventListener("unhandledrejection", (event) => markFailed(String(event.reason)));

function markFailed(message) {
  elements.body.dataset.consoleState = "error";
  showStatus(`Console error: ${message}`, true);
}

function showStatus(message, isError = false) {
  elements.status.textContent = message;
  elements.status.classList.toggle("error", isError);
}

function readToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Stores the token without a leading `Bearer `, so both pasted forms work. */
function storeToken(text) {
  const token = text.trim().replace(/^Bearer\s+/i, "");
  if (token === "") {
    sessionStorage.removeItem(TOKEN_KEY);
  } else {
    sessionStorage.setItem(TOKEN_KEY, token);
  }
}

/**
 * Calls the control plane. Returns `{ ok, status, data, message }`, where `message` is the
 * API's error message (`{"error", "message"}` body) or a description of the network failure.
 */
async function callApi(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = readToken();
  if (token !== "") {
    headers.Authorization = `Bearer ${token}`;
  }
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { ok: false, status: 0, data: null, message: `request failed: ${error.message}` };
  }

  let data = null;
  const text = await response.text();
  if (text !== "") {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  const message = data && typeof data.message === "string"
    ? data.message
    : `${response.status} ${response.statusText}`;
  return { ok: response.ok, status: response.status, data, message };
}

function escrowPath(id, action) {
  const base = `/v1/escrow/${encodeURIComponent(id)}`;
  return action ? `${base}/${action}` : base;
}

/** Formats seconds as the two largest units, for example `2h 05m`. */
function formatAge(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    return "—";
  }
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = Math.floor(seconds % 60);
  if (hours > 0) {
    return `${hours}h ${String(minutes).padStart(2, "0")}m`;
  }
  if (minutes > 0) {
    return `${minutes}m ${String(rest).padStart(2, "0")}s`;
  }
  return `${rest}s`;
}

function formatTime(unixMs) {
  if (typeof unixMs !== "number" || !Number.isFinite(unixMs)) {
    return "—";
  }
  const date = new Date(unixMs);
  return Number.isNaN(date.getTime()) ? "—" : date.toISOString().replace(".000Z", "Z");
}

/** Returns `intent.operation.params.amount` as text, or `—` when the action has none. */
function amountOf(escrow) {
  const amount = escrow?.intent?.operation?.params?.amount;
  return amount === undefined || amount === null ? "—" : String(amount);
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function renderRows(escrows) {
  const rows = escrows.map((escrow) => {
    const row = document.createElement("tr");
    const idCell = document.createElement("td");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = String(escrow.escrow_id);
    open.addEventListener("click", () => loadDetail(String(escrow.escrow_id)));
    idCell.append(open);

    const approvals = Array.isArray(escrow.approvals) ? escrow.approvals.length : 0;
    row.append(
      idCell,
      cell(String(escrow.tenant ?? "—")),
      cell(String(escrow.requesting_actor ?? "—")),
      cell(String(escrow.intent?.operation?.name ?? "—")),
      cell(amountOf(escrow)),
      cell(formatAge(escrow.age_s)),
      cell(`${approvals} / ${escrow.approvals_required ?? "?"}`),
      cell(formatTime(escrow.expires_at_ms)),
      cell(String(escrow.status ?? "—")),
    );
    if (escrow.escrow_id === selectedEscrowId) {
      row.classList.add("selected");
    }
    return row;
  });
  elements.rows.replaceChildren(...rows);
}

async function loadList() {
  if (readToken() === "") {
    elements.rows.replaceChildren();
    showStatus("Enter a bearer token to list escrows.");
    return;
  }
  const status = elements.statusFilter.value;
  const query = status === "" ? "" : `?status=${encodeURIComponent(status)}`;
  showStatus("Loading escrows…");
  const result = await callApi("GET", `/v1/escrows${query}`);
  if (!result.ok || !Array.isArray(result.data)) {
    elements.rows.replaceChildren();
    showStatus(`Escrows not listed (${result.status}): ${result.message}`, true);
    return;
  }
  renderRows(result.data);
  const label = status === "" ? "any status" : status;
  showStatus(`${result.data.length} escrow(s) with ${label}.`);
}

function definition(term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  return [dt, dd];
}

function renderDetail(escrow) {
  elements.detailId.textContent = String(escrow.escrow_id);
  const approvals = Array.isArray(escrow.approvals) ? escrow.approvals : [];
  const approvers = approvals.map((approval) => `${approval.approver} (${formatTime(approval.at_ms)})`);
  elements.detailFields.replaceChildren(
    ...definition("Status", String(escrow.status)),
    ...definition("Tenant", String(escrow.tenant)),
    ...definition("Requesting actor", String(escrow.requesting_actor)),
    ...definition("Key", `${escrow.key_id} (owner ${escrow.key_owner})`),
    ...definition("Operation", String(escrow.intent?.operation?.name ?? "—")),
    ...definition("Amount", amountOf(escrow)),
    ...definition("Policy set", String(escrow.policy_set_id)),
    ...definition("Approvals", `${approvals.length} / ${escrow.approvals_required}: ${approvers.join(", ") || "none yet"}`),
    ...definition("Approver roles", (escrow.approver_roles ?? []).join(", ")),
    ...definition("Separation of duties", escrow.sod ? "yes" : "no"),
    ...definition("Created", formatTime(escrow.created_at_ms)),
    ...definition("Expires", formatTime(escrow.expires_at_ms)),
    ...(escrow.failure ? definition("Failure", String(escrow.failure)) : []),
  );
  elements.detailIntent.textContent = JSON.stringify(escrow.intent, null, 2);

  const history = (escrow.history ?? []).map((transition) => {
    const item = document.createElement("li");
    item.textContent = `${formatTime(transition.at_ms)} ${transition.from} → ${transition.to} by ${transition.by}: ${transition.reason}`;
    return item;
  });
  elements.detailHistory.replaceChildren(...history);

  const allowed = ACTIONS_BY_STATUS[escrow.status] ?? [];
  elements.approve.disabled = !allowed.includes("approve");
  elements.cancel.disabled = !allowed.includes("cancel");
  elements.execute.disabled = !allowed.includes("execute");
  elements.detail.hidden = false;
}

/**
 * Shows the reason code, detail and counterexample of the decision that opened the escrow,
 * from its audit record. Reading audit records needs a role beyond approver, so a 403 is
 * shown as a note rather than an error.
 */
async function loadDecision(decisionId) {
  const paragraph = document.createElement("p");
  paragraph.textContent = `Decision ${decisionId}: loading…`;
  elements.decision.replaceChildren(paragraph);

  const result = await callApi("GET", `/v1/audit/${encodeURIComponent(decisionId)}`);
  if (!result.ok || result.data === null) {
    paragraph.textContent = `Decision ${decisionId}: not shown (${result.status}): ${result.message}`;
    paragraph.className = result.status === 403 ? "hint" : "error";
    return;
  }

  const response = result.data.decision?.response ?? {};
  const parts = [];
  const summary = document.createElement("p");
  summary.textContent = `Decision ${decisionId}: ${response.verdict ?? "?"} ${response.reason_code ?? result.data.decision?.reason_code ?? "?"}`;
  parts.push(summary);
  if (typeof response.detail === "string" && response.detail !== "") {
    const detail = document.createElement("p");
    detail.textContent = `Reason: ${response.detail}`;
    parts.push(detail);
  }
  const counterexample = response.counterexample;
  if (counterexample) {
    const heading = document.createElement("p");
    heading.textContent = `Counterexample, failed axioms: ${(counterexample.failed_axioms ?? []).join(", ") || "none"}`;
    const facts = document.createElement("ul");
    for (const fact of counterexample.facts ?? []) {
      const item = document.createElement("li");
      item.textContent = `${fact.name} = ${fact.value}`;
      facts.append(item);
    }
    parts.push(heading, facts);
  }
  elements.decision.replaceChildren(...parts);
}

async function loadDetail(id) {
  selectedEscrowId = id;
  elements.actionResult.textContent = "";
  const result = await callApi("GET", escrowPath(id));
  if (!result.ok || result.data === null) {
    elements.detail.hidden = true;
    showStatus(`Escrow ${id} not loaded (${result.status}): ${result.message}`, true);
    return;
  }
  renderDetail(result.data);
  await loadDecision(String(result.data.decision_id));
}

/** Runs approve, cancel or execute on the selected escrow and shows the API response. */
async function runAction(action) {
  if (selectedEscrowId === null) {
    return;
  }
  const id = selectedEscrowId;
  const body = action === "cancel"
    ? { reason: elements.cancelReason.value.trim() || "cancelled in the console" }
    : undefined;
  elements.actionResult.classList.remove("error");
  elements.actionResult.textContent = `${action}: sending…`;

  const result = await callApi("POST", escrowPath(id, action), body);
  if (!result.ok) {
    elements.actionResult.classList.add("error");
    elements.actionResult.textContent = `${action} rejected (${result.status}): ${result.message}`;
    return;
  }
  elements.actionResult.textContent = `${action}: escrow is now ${result.data?.status ?? "?"}`;
  if (result.data && result.data.escrow_id) {
    renderDetail(result.data);
  }
  await loadList();
}

elements.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  storeToken(elements.tokenInput.value);
  elements.tokenInput.value = "";
  loadList();
});
elements.forgetToken.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  elements.detail.hidden = true;
  selectedEscrowId = null;
  loadList();
});
elements.filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  loadList();
});
elements.statusFilter.addEventListener("change", () => loadList());
elements.approve.addEventListener("click", () => runAction("approve"));
elements.cancel.addEventListener("click", () => runAction("cancel"));
elements.execute.addEventListener("click", () => runAction("execute"));

elements.body.dataset.consoleState = "ready";
loadList();
