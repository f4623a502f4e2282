// headsplat's viewer page: the avatar of blendshapes.json / .bin in this folder, an orbit camera,
// expression sliders grouped by region, gaze and head-pose controls, and a driving sequence
// (sequence.json, or one the user opens) played in real time, or, served by `headsplat live`
// (live.json present), the conditions its WebSocket streams, applied as they arrive.
// URL parameters: size=PX (the canvas side; default the training size, at least 512),
// play=1 (start the sequence at once). window.headsplat is the page's handle for scripts and tests.

import { SplatRenderer, axisAngleMatrix, loadAvatar } from "./splat.js";

const params = new URLSearchParams(location.search);
const status = document.getElementById("status");
const degrees = Math.PI / 180;

const multiply3 = (A, B) => {
  const out = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += A[r * 3 + k] * B[k * 3 + c];
  return out;
};
const transpose3 = (A) => [A[0], A[3], A[6], A[1], A[4], A[7], A[2], A[5], A[8]];
const apply3 = (A, v) => [0, 1, 2].map((r) => A[r * 3] * v[0] + A[r * 3 + 1] * v[1] + A[r * 3 + 2] * v[2]);

// World -> camera view (column-major 16) from a rotation (row-major 9) and translation.
const viewMatrix = (R, t) => [R[0], R[3], R[6], 0, R[1], R[4], R[7], 0, R[2], R[5], R[8], 0, t[0], t[1], t[2], 1];

async function main() {
  const avatar = await loadAvatar("./");
  const header = avatar.header;
  const names = header.expression_names;
  const size = Number(params.get("size")) || Math.max(header.camera.size, 512);
  const canvas = document.getElementById("canvas");
  canvas.width = canvas.height = size;
  canvas.style.width = canvas.style.height = `${size}px`;
  const renderer = new SplatRenderer(canvas, avatar);
  const restRotation = header.rest.rotation.flat();
  const restTranslation = header.rest.translation;
  const K = header.camera.K;
  const zoomBase = size / header.camera.size;

  const state = {
    weights: header.rest.expression.slice(),
    gaze: [[0, 0], [0, 0]],
    head: [0, 0, 0], // pitch, yaw, roll (radians) about the head's own axes, from the rest pose
    rotation: restRotation.slice(),
    translation: restTranslation.slice(),
  };
  // The orbit turns the camera about the head's centre (the rest pose's model origin).
  const orbit = { yaw: 0, pitch: 0, zoom: 1, target: restTranslation.slice() };
  let camera = null; // set by setCamera to hold an exact view

  function currentCamera() {
    if (camera) return camera;
    const O = multiply3(axisAngleMatrix([0, orbit.yaw, 0]), axisAngleMatrix([orbit.pitch, 0, 0]));
    const R = transpose3(O);
    const Rt = apply3(R, orbit.target);
    const t = orbit.target.map((v, k) => v - Rt[k]);
    const f = zoomBase * orbit.zoom;
    return { view: viewMatrix(R, t), fx: K[0][0] * f, fy: K[1][1] * f, cx: size / 2 + (K[0][2] * zoomBase - size / 2) * orbit.zoom, cy: size / 2 + (K[1][2] * zoomBase - size / 2) * orbit.zoom };
  }

  const stats = { fps: 0, frames: 0, poseMs: 0 };
  let posed = false;
  function render() {
    const start = performance.now();
    if (!posed) {
      renderer.pose({ ...state, torsoRotation: restRotation, torsoTranslation: restTranslation });
      posed = true;
      stats.poseMs = performance.now() - start; // the mix pass and its read-back of the means
    }
    renderer.draw(currentCamera(), header.background);
  }
  let pending = false;
  const changed = (pose = true) => {
    if (pose) posed = false;
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); }
  };

  // --- sliders
  const sliders = {};
  function slider(parent, label, min, max, value, onInput, id) {
    const row = document.createElement("label");
    row.className = "slider";
    const input = Object.assign(document.createElement("input"), { type: "range", min, max, step: (max - min) / 200, value });
    if (id) input.id = id;
    const shown = document.createElement("span");
    shown.textContent = Number(value).toFixed(2);
    input.addEventListener("input", () => { shown.textContent = Number(input.value).toFixed(2); onInput(Number(input.value)); });
    const name = document.createElement("span");
    name.textContent = label;
    row.append(name, input, shown);
    parent.append(row);
    return { input, shown };
  }
  const expressions = document.getElementById("expressions");
  for (const [region, members] of Object.entries(header.regions)) {
    const group = document.createElement("details");
    group.open = region === "jaw" || region === "mouth";
    group.append(Object.assign(document.createElement("summary"), { textContent: `${region} (${members.length})` }));
    for (const name of members) {
      const k = names.indexOf(name);
      sliders[name] = slider(group, name, 0, 1, state.weights[k], (v) => { state.weights[k] = v; changed(); }, `w-${name}`);
    }
    expressions.append(group);
  }
  const pose = document.getElementById("pose");
  const setHead = () => {
    state.rotation = multiply3(restRotation, axisAngleMatrix([state.head[0], state.head[1], state.head[2]]));
    changed();
  };
  ["pitch", "yaw", "roll"].forEach((axis, k) =>
    slider(pose, `head ${axis} (deg)`, -45, 45, 0, (v) => { state.head[k] = v * degrees; setHead(); }, `head-${axis}`));
  ["yaw", "pitch"].forEach((axis, k) =>
    slider(pose, `gaze ${axis} (deg)`, -30, 30, 0, (v) => { state.gaze[0][k] = state.gaze[1][k] = v * degrees; changed(); }, `gaze-${axis}`));
  const showWeights = () => names.forEach((name, k) => {
    sliders[name].input.value = state.weights[k];
    sliders[name].shown.textContent = state.weights[k].toFixed(2);
  });

  // --- orbit camera
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; camera = null; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    orbit.yaw -= (e.clientX - drag[0]) * 0.01;
    orbit.pitch = Math.max(-1.4, Math.min(1.4, orbit.pitch + (e.clientY - drag[1]) * 0.01));
    drag = [e.clientX, e.clientY];
    changed(false);
  });
  canvas.addEventListener("wheel", (e) => { e.preventDefault(); camera = null; orbit.zoom *= Math.exp(-e.deltaY * 0.001); changed(false); });
  document.getElementById("reset-view").onclick = () => { Object.assign(orbit, { yaw: 0, pitch: 0, zoom: 1 }); camera = null; changed(false); };
  document.getElementById("reset-face").onclick = () => { state.weights = header.rest.expression.slice(); showWeights(); changed(); };
  document.getElementById("zero-face").onclick = () => { state.weights.fill(0); showWeights(); changed(); };

  // --- sequences
  let sequence = null, playing = false, started = 0, shown = 0, fpsSince = 0;
  const fpsText = document.getElementById("fps");
  const playButton = document.getElementById("play");
  function useSequence(data) {
    const order = data.expression_names.map((name) => names.indexOf(name));
    if (order.includes(-1)) throw new Error(`the sequence names expressions this avatar lacks: ${data.expression_names.filter((n, i) => order[i] < 0)}`);
    sequence = data;
    sequence.order = order;
    playButton.disabled = false;
    playButton.textContent = `Play sequence (${data.expression.length} frames at ${data.fps} fps)`;
  }
  function step(now) {
    if (!playing) return;
    // A frame's timestamp can precede the play() that asked for it.
    const f = Math.floor((Math.max(0, now - started) / 1000) * sequence.fps) % sequence.expression.length;
    sequence.order.forEach((k, j) => { state.weights[k] = sequence.expression[f][j]; });
    state.gaze = sequence.gaze[f];
    state.rotation = sequence.rotation[f].flat();
    state.translation = sequence.translation[f];
    posed = false;
    render();
    shown++;
    stats.frames++;
    if (now - fpsSince > 1000) {
      stats.fps = (shown * 1000) / (now - fpsSince);
      fpsText.textContent = `${stats.fps.toFixed(1)} frames per second`;
      shown = 0;
      fpsSince = now;
    }
    requestAnimationFrame(step);
  }
  function play() {
    if (!sequence) return;
    playing = true;
    started = fpsSince = performance.now();
    shown = 0;
    playButton.textContent = "Stop";
    requestAnimationFrame(step);
  }
  function stop() {
    playing = false;
    state.rotation = restRotation.slice();
    state.translation = restTranslation.slice();
    showWeights();
    playButton.textContent = "Play sequence";
  }
  playButton.onclick = () => (playing ? stop() : play());
  document.getElementById("sequence-file").addEventListener("change", async (e) => {
    try { useSequence(JSON.parse(await e.target.files[0].text())); } catch (error) { status.textContent = `${error}`; }
  });
  const found = await fetch("./sequence.json");
  if (found.ok) useSequence(await found.json());

  // --- live: conditions from `headsplat live`'s socket (reconnecting if the server restarts)
  const live = { connected: false, received: 0, conditions: 0, last: null, connections: 0 };
  const liveConfig = await fetch("./live.json").then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (liveConfig) {
    const panel = document.getElementById("live");
    const liveStatus = document.getElementById("live-status");
    const preview = document.getElementById("preview");
    panel.hidden = false;
    let order = null;
    const connect = () => {
      const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${liveConfig.socket}`);
      socket.onopen = () => { live.connected = true; live.connections++; };
      socket.onclose = () => {
        live.connected = false;
        liveStatus.textContent = "disconnected: reconnecting...";
        setTimeout(connect, 1000);
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        live.received++;
        if (message.expression_names) {
          order = message.expression_names.map((name) => names.indexOf(name));
          return;
        }
        if (message.preview) preview.src = `data:image/jpeg;base64,${message.preview}`;
        const latency = message.latency_ms === null ? "" : `, ${message.latency_ms} ms from capture to sent`;
        liveStatus.textContent = `${message.status}: ${message.fps} frames/s${latency}, ${message.dropped} dropped`;
        const condition = message.condition;
        if (!condition || !order) return;
        live.last = message; // the last message that moved the avatar
        live.conditions++;
        order.forEach((k, j) => { if (k >= 0) state.weights[k] = condition.expression[j]; });
        state.gaze = condition.gaze;
        state.rotation = condition.rotation;
        state.translation = condition.translation;
        changed();
      };
    };
    connect();
  }

  window.headsplat = {
    names, header, stats, play, stop, live,
    // {weights: {name: value}, gaze, rotation (row-major 9), translation}
    setState(update) {
      for (const [name, value] of Object.entries(update.weights || {})) state.weights[names.indexOf(name)] = value;
      if (update.gaze) state.gaze = update.gaze;
      if (update.rotation) state.rotation = update.rotation;
      if (update.translation) state.translation = update.translation;
      showWeights();
      posed = false;
      render();
    },
    // {view (column-major 16), fx, fy, cx, cy} in canvas pixels; null: the orbit camera.
    setCamera(exact) { camera = exact; render(); },
    render,
    ready: true,
  };
  status.textContent = `${header.count} Gaussians, ${names.length} expressions`;
  render();
  if (params.get("play") && sequence) play();
}

main().catch((error) => {
  status.textContent = `error: ${error.message}`;
  window.headsplat = { error: String(error.message), ready: false };
});
