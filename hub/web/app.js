// termcall's web client: the hub's protocol (shared/src/messages.rs, version 2) over the hub's
// WebSocket, WebRTC with the same codecs and chat channel as the terminal client. One call at a
// time: one-to-one (peer to peer, the caller offers) or through the hub (group calls and echo:
// the hub offers, and offers again as people come and go).
"use strict";

const PROTOCOL_VERSION = 3;
const UNSENT_CHAT = 1000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const state = {
  ws: null, me: null, secret: null, iceServers: [], roster: new Map(), signedIn: false, retry: 0,
  call: null, // { id, peer, sfu, group, offerer, pc, dc, unsent, pending, incoming, connected, stats }
  cancelled: false, // a call was hung up before the hub named it: hang it up when it does
  local: null, // the camera and microphone stream
  quality: {}, // the newest measurements, also read by the tests
  tracks: [], // "who/kind" of every track received, for diagnosis
  picked: new Set(), // names ticked for a group call
  connectTimes: [], // ms from placing or accepting each call to its media connecting
};
window.termcall = state;
let inbox = Promise.resolve();

// ---- the hub connection -------------------------------------------------------------------

function send(m) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(m));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  setStatus("connecting to the hub…");
  ws.onopen = () => {
    // ask_simulcast: through the hub our video goes as simulcast layers, which Chromium sends
    // only when the hub's offer asks for them (see layerVideo).
    const hello = { type: "hello", version: PROTOCOL_VERSION, name: state.me, ask_simulcast: true };
    if (state.secret) hello.secret = state.secret;
    send(hello);
  };
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    // One message at a time, in order: an offer must be answered before the next is applied.
    inbox = inbox.then(() => onHub(m)).catch((e) => notice(`error: ${e.message || e}`));
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    if (!state.signedIn) return setStatus("not signed in");
    // The hub restarted or the network dropped: sign in again, a little later each time.
    const wait = Math.min(250 * 2 ** state.retry++, 3000);
    setStatus(`hub connection lost; trying again in ${(wait / 1000).toFixed(1)} s`);
    setTimeout(connect, wait);
  };
}

async function onHub(m) {
  switch (m.type) {
    case "welcome":
      state.signedIn = true; state.retry = 0; state.me = m.name;
      state.iceServers = m.ice_servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
      state.roster = new Map(m.users.map((u) => [u.name, u]));
      $("signin").hidden = true; $("app").hidden = false;
      $("me").textContent = `signed in as ${m.name}`;
      setStatus("online");
      renderRoster();
      break;
    case "roster":
      for (const n of m.left || []) state.roster.delete(n);
      for (const u of [...(m.joined || []), ...(m.changed || [])]) state.roster.set(u.name, u);
      renderRoster();
      break;
    case "incoming":
      if (state.call) return send({ type: "decline", call_id: m.call_id });
      state.call = newCall(m.call_id, m.from, { incoming: true, group: !!m.group });
      $("incoming-text").textContent = m.group ? `${m.from} invites you to a group call with ${m.group.join(", ")}` : `${m.from} is calling`;
      $("incoming").hidden = false;
      setStatus(`${m.from} is calling`);
      break;
    case "ringing":
      // A call hung up before the hub named it: hang it up now that it has a name.
      if (!state.call && state.cancelled) { state.cancelled = false; return send({ type: "hangup", call_id: m.call_id }); }
      if (state.call) state.call.id = m.call_id;
      setCallText(`ringing ${m.to}…`);
      break;
    case "accepted":
      if (!state.call && state.cancelled) { state.cancelled = false; return send({ type: "hangup", call_id: m.call_id }); }
      if (!state.call) return send({ type: "hangup", call_id: m.call_id });
      Object.assign(state.call, { id: m.call_id, peer: m.peer, sfu: !!m.sfu, offerer: m.offerer, incoming: false });
      $("incoming").hidden = true;
      setCallText(m.sfu ? "connecting through the hub…" : `connecting to ${m.peer}…`);
      await startPeer(state.call);
      break;
    case "group":
      if (state.call && m.call_id === state.call.id) {
        state.call.group = true;
        const others = m.joined.filter((n) => n !== state.me);
        setCallText(`group call: ${others.join(", ") || "nobody else yet"}${m.ringing.length ? ` · ringing ${m.ringing.join(", ")}` : ""}`);
        renderInvite();
      }
      break;
    case "left":
      if (state.call && m.call_id === state.call.id) {
        removeTile(m.name);
        notice(`${m.name} ${m.reason === "peer_hangup" ? "left" : `is not in the call (${m.reason.replaceAll("_", " ")})`}`);
      }
      break;
    case "signal":
      if (state.call && m.call_id === state.call.id) await onSignal(state.call, m.signal);
      break;
    case "call_ended":
      if (state.call && (m.call_id === state.call.id || state.call.id == null)) {
        notice(`call ended: ${m.reason.replaceAll("_", " ")}`);
        endCall();
      }
      break;
    case "error":
      if (!state.signedIn) {
        setStatus(`refused: ${m.message}`);
        $("signin").hidden = false;
        state.ws.close();
      } else {
        notice(`${m.code.replaceAll("_", " ")}: ${m.message}`);
        if (state.call && state.call.id == null && m.call_id == null && !state.call.incoming) endCall();
      }
      break;
  }
}

// ---- calls --------------------------------------------------------------------------------

function newCall(id, peer, extra) {
  return Object.assign({ id, peer, sfu: false, group: false, offerer: false, pc: null, dc: null, unsent: [], pending: [], incoming: false, connected: false, last: null }, extra);
}

function placeCall(to) {
  if (state.call) return notice("you are already in a call");
  state.cancelled = false;
  state.call = newCall(null, Array.isArray(to) ? to.join(", ") : to, { group: Array.isArray(to), placedAt: performance.now() });
  send({ type: "call", to });
  setCallText(`calling ${state.call.peer}…`);
}

async function localMedia() {
  if (state.local) return state.local;
  const camera = $("camera").value, mic = $("microphone").value;
  const video = camera ? { deviceId: { exact: camera }, width: 640, height: 480, frameRate: 15 } : { width: 640, height: 480, frameRate: 15 };
  const audio = mic ? { deviceId: { exact: mic } } : true;
  for (const want of [{ video, audio }, { audio }, { video }]) {
    try {
      state.local = await navigator.mediaDevices.getUserMedia(want);
      break;
    } catch (e) {
      notice(`no ${Object.keys(want).join(" and ")}: ${e.message}`);
    }
  }
  if (!state.local) state.local = new MediaStream();
  $("self").srcObject = state.local;
  await listDevices();
  return state.local;
}

async function startPeer(call) {
  const config = { iceServers: state.iceServers };
  if (params.get("relay") === "always") config.iceTransportPolicy = "relay";
  const pc = new RTCPeerConnection(config);
  pc.onicecandidate = (e) => {
    if (!e.candidate) return send({ type: "signal", call_id: call.id, signal: { kind: "end_of_candidates" } });
    const c = e.candidate;
    send({ type: "signal", call_id: call.id, signal: { kind: "candidate", candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex, username_fragment: c.usernameFragment } });
  };
  pc.onconnectionstatechange = () => {
    if (state.call !== call) return;
    const s = pc.connectionState;
    if (s === "connected" && !call.connected && call.placedAt) state.connectTimes.push(Math.round(performance.now() - call.placedAt));
    if (s === "connected") { call.connected = true; setCallText(call.sfu ? (call.peer === "echo" ? "echo: your own picture and chat, through the hub" : "in a group call") : `in a call with ${call.peer}`); }
    if (s === "disconnected") setCallText("reconnecting…");
    if (s === "failed" && call.offerer) restartIce(call);
  };
  pc.ontrack = (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    // Through the hub each sender's stream is named after them; peer to peer it is the peer.
    const who = call.sfu ? stream.id : call.peer;
    state.tracks.push(`${who}/${e.track.kind}`);
    addTile(who, stream);
    stream.onremovetrack = () => { if (stream.getTracks().length === 0) removeTile(who); };
  };
  pc.ondatachannel = (e) => adoptChannel(call, e.channel);
  const local = await localMedia();
  if (state.call !== call) return pc.close();
  // Our tracks first: an offer applied after them takes them on its first audio and video
  // m-lines (the hub's offer has one of each for what we send). Through the hub, our video
  // waits for the offer instead: it asks for simulcast there, and Chromium sends simulcast only
  // on a transceiver the offer made (`sendOnOffered`). Signals that came meanwhile waited in
  // `call.early`.
  for (const t of local.getTracks()) if (!(call.sfu && t.kind === "video")) pc.addTrack(t, local);
  call.pc = pc;
  $("call-bar").hidden = false;
  if (call.offerer) {
    adoptChannel(call, pc.createDataChannel("chat"));
    await pc.setLocalDescription(await pc.createOffer());
    send({ type: "signal", call_id: call.id, signal: { kind: "offer", sdp: pc.localDescription.sdp } });
  }
  for (const s of call.early || []) await onSignal(call, s);
  call.early = null;
  call.timer = setInterval(() => measure(call), 1000);
}

async function restartIce(call) {
  if (!call.pc || !call.offerer) return;
  await call.pc.setLocalDescription(await call.pc.createOffer({ iceRestart: true }));
  send({ type: "signal", call_id: call.id, signal: { kind: "offer", sdp: call.pc.localDescription.sdp } });
}

async function onSignal(call, s) {
  const pc = call.pc;
  if (!pc) { (call.early = call.early || []).push(s); return; }
  if (s.kind === "offer") {
    await pc.setRemoteDescription({ type: "offer", sdp: s.sdp });
    if (call.sfu) await sendOnOffered(call);
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: "signal", call_id: call.id, signal: { kind: "answer", sdp: pc.localDescription.sdp } });
    if (call.sfu) await layerVideo(call);
  } else if (s.kind === "layers") {
    return wantLayers(call, s.wanted);
  } else if (s.kind === "answer") {
    await pc.setRemoteDescription({ type: "answer", sdp: s.sdp });
  } else if (s.kind === "candidate") {
    const c = { candidate: s.candidate, sdpMid: s.sdp_mid, sdpMLineIndex: s.sdp_mline_index, usernameFragment: s.username_fragment };
    if (pc.remoteDescription) await pc.addIceCandidate(c).catch(() => {}); else call.pending.push(c);
    return;
  } else if (s.kind === "restart_ice") {
    return restartIce(call);
  } else {
    return;
  }
  for (const c of call.pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
}

// Through the hub, our video goes as simulcast layers when its offer asks for them (RIDs q, h
// and f, from the smallest, each half the next); the hub gives each receiver one, and says which
// layers anyone receives. Chromium sends fewer layers of a small camera (as its own table has
// it: 3 from 960x540, 2 from 480x270, else 1), the smallest ones: so the layers it sends are
// sized to end at the camera's own size, and the hub is told the full size the three would have
// (the top ones never come, and the hub does not pick what does not arrive).
const RIDS = ["q", "h", "f"];

function layersFor(width, height) {
  const px = width * height;
  return px >= 960 * 540 ? 3 : px >= 480 * 270 ? 2 : 1;
}

// Our camera on the hub's first video section (the one it receives ours on), once.
async function sendOnOffered(call) {
  const track = state.local && state.local.getVideoTracks()[0];
  const t = call.pc.getTransceivers().find((x) => x.receiver.track.kind === "video" && x.mid !== null);
  if (!track || !t || t.sender.track) return;
  await t.sender.replaceTrack(track);
  t.direction = "sendonly";
}

async function layerVideo(call) {
  const sender = call.pc.getSenders().find((x) => x.track && x.track.kind === "video");
  if (!sender || call.layered === sender) return;
  const p = sender.getParameters();
  if (!p.encodings || p.encodings.length !== RIDS.length || !p.encodings.every((e, i) => e.rid === RIDS[i])) return;
  const { width, height } = sender.track.getSettings();
  if (!width || !height) return;
  const n = layersFor(width, height);
  p.encodings.forEach((e, i) => {
    e.scaleResolutionDownBy = i < n ? 2 ** (n - 1 - i) : 1;
    if (i >= n) e.active = false;
  });
  try {
    await sender.setParameters(p);
  } catch (e) {
    console.warn("simulcast layers kept as they were:", e);
    return;
  }
  Object.assign(call, { layered: sender, layerCount: n });
  const up = 2 ** (RIDS.length - n);
  send({ type: "signal", call_id: call.id, signal: { kind: "simulcast", width: width * up, height: height * up } });
}

// The hub says which layers someone receives (from the smallest): the others are not encoded.
async function wantLayers(call, wanted) {
  const sender = call.layered;
  if (!sender || !Array.isArray(wanted)) return;
  const p = sender.getParameters();
  let changed = false;
  (p.encodings || []).forEach((e, i) => {
    const want = i < call.layerCount && wanted[i] === true;
    if (e.active !== want) { e.active = want; changed = true; }
  });
  // Never all off: the smallest layer the camera has stays.
  if (changed && !p.encodings.some((e) => e.active)) p.encodings[0].active = true;
  if (changed) await sender.setParameters(p).catch((e) => console.warn("layers not changed:", e));
}

function hangUp() {
  const call = state.call;
  if (!call) return;
  if (call.id != null) send({ type: call.incoming ? "decline" : "hangup", call_id: call.id });
  else state.cancelled = true;
  notice("you hung up");
  endCall();
}

function endCall() {
  const call = state.call;
  if (!call) return;
  state.call = null;
  clearInterval(call.timer);
  if (call.pc) call.pc.close();
  $("tiles").replaceChildren();
  $("incoming").hidden = true; $("call-bar").hidden = true;
  $("quality").textContent = "";
  setChatOpen(false);
  setStatus("online");
  renderRoster();
}

// ---- chat ---------------------------------------------------------------------------------

function adoptChannel(call, dc) {
  if (call.dc) return;
  call.dc = dc;
  dc.onopen = () => {
    setChatOpen(true);
    for (const text of call.unsent.splice(0)) dc.send(JSON.stringify({ text, sent_ms: Date.now() }));
  };
  dc.onclose = () => { if (state.call === call) setChatOpen(false); };
  dc.onmessage = (e) => {
    let from = call.sfu ? null : call.peer, text = String(e.data);
    try {
      const w = JSON.parse(e.data);
      if (typeof w.text === "string") { text = w.text; if (call.sfu && w.from) from = w.from; }
    } catch { /* plain text from a peer that sends it so */ }
    chatLine(from || "?", text);
  };
  if (dc.readyState === "open") dc.onopen();
}

function sendChat(text) {
  const call = state.call;
  if (!call) return notice("chat needs a call: call someone first");
  if (new TextEncoder().encode(text).length > 16384) return notice("a chat message is at most 16384 bytes");
  if (call.dc && call.dc.readyState === "open") call.dc.send(JSON.stringify({ text, sent_ms: Date.now() }));
  else if (call.unsent.length < UNSENT_CHAT) call.unsent.push(text);
  else return notice(`chat not sent: ${UNSENT_CHAT} lines already wait for the connection`);
  chatLine(state.me, text);
}

function chatLine(from, text) {
  const li = document.createElement("li");
  const b = document.createElement("span");
  b.className = "from"; b.textContent = `${from}: `;
  li.append(b, document.createTextNode(text));
  appendChat(li);
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice"; li.textContent = text;
  appendChat(li);
}

function appendChat(li) {
  const log = $("chat-log");
  log.append(li);
  while (log.children.length > 500) log.firstChild.remove();
  log.scrollTop = log.scrollHeight;
}

function setChatOpen(open) {
  $("chat-input").disabled = !open; $("chat-send").disabled = !open;
  if (open) $("chat-input").placeholder = "say something"; else $("chat-input").placeholder = "chat opens in a call";
}

// ---- what you see -------------------------------------------------------------------------

function setStatus(text) { $("status").textContent = text; }
function setCallText(text) { $("call-text").textContent = text; $("call-bar").hidden = false; setStatus(text); }

function renderRoster() {
  const ul = $("roster");
  ul.replaceChildren();
  for (const u of [...state.roster.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (u.name === state.me || u.name === "echo") continue;
    const li = document.createElement("li");
    li.className = u.state; li.dataset.name = u.name;
    const pick = document.createElement("input");
    pick.type = "checkbox"; pick.value = u.name; pick.title = `select ${u.name} for a group call`;
    pick.checked = state.picked.has(u.name);
    pick.onchange = () => { if (pick.checked) state.picked.add(u.name); else state.picked.delete(u.name); updateSelection(); };
    const name = document.createElement("span");
    name.textContent = u.name;
    const call = document.createElement("button");
    call.textContent = "Call"; call.className = "call"; call.disabled = !!state.call || u.state !== "idle";
    call.onclick = () => placeCall(u.name);
    const st = document.createElement("span");
    st.className = "state"; st.textContent = u.state.replace("_", " ") + (u.call ? " (group)" : "");
    li.append(pick, name, call, st);
    ul.append(li);
  }
  updateSelection();
  renderInvite();
}

// Who is picked for a group call: kept across roster updates, forgotten when they leave.
function selected() { return [...state.picked].filter((n) => state.roster.has(n)); }
function updateSelection() { $("call-selected").disabled = !!state.call || selected().length === 0; }

function renderInvite() {
  const show = !!(state.call && state.call.group && state.call.pc);
  const sel = $("invite-who");
  sel.hidden = !show; $("invite").hidden = !show;
  if (!show) return;
  sel.replaceChildren(...[...state.roster.values()].filter((u) => u.state === "idle" && u.name !== state.me && u.name !== "echo").map((u) => new Option(u.name, u.name)));
  $("invite").disabled = sel.options.length === 0;
}

function addTile(who, stream) {
  let tile = document.querySelector(`.tile[data-name="${CSS.escape(who)}"]`);
  if (!tile) {
    tile = document.createElement("div");
    tile.className = "tile"; tile.dataset.name = who;
    const v = document.createElement("video");
    v.autoplay = true; v.playsInline = true;
    const label = document.createElement("span");
    label.className = "name"; label.textContent = who;
    tile.append(v, label);
    $("tiles").append(tile);
  }
  tile.querySelector("video").srcObject = stream;
}

function removeTile(who) {
  const tile = document.querySelector(`.tile[data-name="${CSS.escape(who)}"]`);
  if (tile) tile.remove();
}

// Once a second: the path (p2p, relay or relay-tcp), round trip, bitrates and loss, from getStats.
async function measure(call) {
  if (!call.pc || state.call !== call) return;
  const report = await call.pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pair = null, bytesIn = 0, bytesOut = 0, lost = 0, got = 0, framesDecoded = 0, audioIn = 0;
  const sentLayers = [];
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
    if (s.type === "inbound-rtp") { bytesIn += s.bytesReceived || 0; lost += s.packetsLost || 0; got += s.packetsReceived || 0; if (s.kind === "video") framesDecoded += s.framesDecoded || 0; else audioIn += s.packetsReceived || 0; }
    if (s.type === "outbound-rtp") bytesOut += s.bytesSent || 0;
    if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) sentLayers.push({ rid: s.rid, width: s.frameWidth || 0, height: s.frameHeight || 0, frames_encoded: s.framesEncoded || 0 });
  });
  const local = pair && byId.get(pair.localCandidateId), remote = pair && byId.get(pair.remoteCandidateId);
  // Our relay reached over TCP or TLS (UDP blocked) is "relay-tcp", as termcall says it.
  const overTcp = local?.candidateType === "relay" && (local.relayProtocol === "tcp" || local.relayProtocol === "tls");
  const path = !pair ? "—" : overTcp ? "relay-tcp" : (local?.candidateType === "relay" || remote?.candidateType === "relay") ? "relay" : "p2p";
  const now = performance.now(), last = call.last;
  const kbps = (b, a) => (last ? ((b - a) * 8) / (now - last.at) : 0);
  const q = {
    path, rtt_ms: pair && pair.currentRoundTripTime != null ? Math.round(pair.currentRoundTripTime * 1000) : null,
    in_kbps: Math.round(kbps(bytesIn, last?.bytesIn || 0)), out_kbps: Math.round(kbps(bytesOut, last?.bytesOut || 0)),
    loss_pct: got + lost > 0 ? Math.round((1000 * lost) / (got + lost)) / 10 : 0, frames_decoded: framesDecoded, audio_packets_in: audioIn,
    sent_layers: sentLayers.sort((a, b) => a.width - b.width),
  };
  call.last = { at: now, bytesIn, bytesOut };
  state.quality = q;
  const layers = sentLayers.filter((l) => l.width > 0).map((l) => `${l.width}x${l.height}`);
  $("quality").textContent = `${q.path} · rtt ${q.rtt_ms ?? "—"} ms · in ${q.in_kbps} kbit/s · out ${q.out_kbps} kbit/s · loss ${q.loss_pct}%` + (layers.length > 1 ? ` · sending ${layers.join(" + ")}` : "");
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  for (const [kind, id] of [["videoinput", "camera"], ["audioinput", "microphone"]]) {
    const sel = $(id), keep = sel.value;
    sel.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || `${id} ${i + 1}`, d.deviceId)));
    if (keep) sel.value = keep;
  }
}

// A device picked mid-call replaces the track being sent.
async function switchDevice(kind) {
  if (!state.local) return;
  const old = kind === "video" ? state.local.getVideoTracks()[0] : state.local.getAudioTracks()[0];
  const id = $(kind === "video" ? "camera" : "microphone").value;
  try {
    const fresh = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: id } } });
    const track = fresh.getTracks()[0];
    if (old) { state.local.removeTrack(old); old.stop(); }
    state.local.addTrack(track);
    const sender = state.call?.pc?.getSenders().find((s) => s.track && s.track.kind === kind) || state.call?.pc?.getSenders().find((s) => s.track === old);
    if (sender) await sender.replaceTrack(track);
  } catch (e) {
    notice(`cannot switch ${kind}: ${e.message}`);
  }
}

// ---- wiring -------------------------------------------------------------------------------

$("signin").onsubmit = (e) => {
  e.preventDefault();
  state.me = $("name").value.trim();
  state.secret = $("secret").value || null;
  if (state.ws) state.ws.close();
  connect();
};
// The page is wired: signing in works from here on.
$("signin-button").disabled = false;
$("call-selected").onclick = () => { const who = selected(); if (who.length) { state.picked.clear(); placeCall(who); } };
$("echo").onclick = () => placeCall("echo");
$("accept").onclick = () => { if (state.call) { state.call.placedAt = performance.now(); send({ type: "accept", call_id: state.call.id }); $("incoming").hidden = true; setCallText("accepting…"); } };
$("decline").onclick = () => { if (state.call) { send({ type: "decline", call_id: state.call.id }); endCall(); } };
$("hangup").onclick = hangUp;
$("invite").onclick = () => { const to = $("invite-who").value; if (to && state.call) send({ type: "invite", call_id: state.call.id, to }); };
$("mute-mic").onclick = () => {
  const on = state.local?.getAudioTracks().some((t) => t.enabled);
  state.local?.getAudioTracks().forEach((t) => (t.enabled = !on));
  $("mute-mic").textContent = on ? "Unmute mic" : "Mute mic";
};
$("mute-camera").onclick = () => {
  const on = state.local?.getVideoTracks().some((t) => t.enabled);
  state.local?.getVideoTracks().forEach((t) => (t.enabled = !on));
  $("mute-camera").textContent = on ? "Start camera" : "Stop camera";
};
$("camera").onchange = () => switchDevice("video");
$("microphone").onchange = () => switchDevice("audio");
$("chat-form").onsubmit = (e) => {
  e.preventDefault();
  const text = $("chat-input").value;
  if (!text.trim()) return;
  $("chat-input").value = "";
  sendChat(text);
};
setChatOpen(false);
if (params.get("name")) $("name").value = params.get("name");
listDevices();
