// headsplat's WebGL2 renderer of Gaussian-blendshape avatars (the layout of
// headsplat/apps/export/blendshapes.py). Three passes per frame:
//   mesh:  one fragment per vertex mixes its blendshape deltas (the weights that are not zero),
//          turns it with its eyeball and blends the head's and the torso's pose;
//   bind:  one fragment per Gaussian binds it to its posed triangle as the avatar does, and writes
//          its world mean and covariance to float textures;
//   splat: one instanced quad per Gaussian, far to near, with headsplat's EWA projection
//          (Zwicker et al. 2002, as 3D Gaussian Splatting: frustum-clamped Jacobian, 0.3 px^2
//          blur, alpha = min(0.999, o exp(-d^T conic d / 2)), below 1/255 dropped), so a view
//          renders as `headsplat` renders it.
// The means come back to the CPU once per mix for the depth sort.

const TEXTURE_WIDTH = 2048;
const MAX_SHAPES = 64;

const PASS_VERTEX = `#version 300 es
void main() {
  vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}`;

const HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp usampler2D;
ivec2 texel(int i) { return ivec2(i % ${TEXTURE_WIDTH}, i / ${TEXTURE_WIDTH}); }
`;

// The fragment of a full-screen pass over a data texture: the item it computes.
const PASS_HEADER = `${HEADER}
int fragmentIndex() { return int(gl_FragCoord.y) * ${TEXTURE_WIDTH} + int(gl_FragCoord.x); }
`;

const MESH_FRAGMENT = `${PASS_HEADER}
uniform sampler2D vertexTex, vertexEye, vertexDeltas;
uniform int vertexCount;
uniform int activeCount;
uniform int activeShape[${MAX_SHAPES}];
uniform float activeWeight[${MAX_SHAPES}];
uniform vec3 eyeCentre[2];
uniform mat3 gazeRotation[2];
uniform mat3 headRotation, torsoRotation;
uniform vec3 headTranslation, torsoTranslation;
out vec4 outVertex;

void main() {
  int u = fragmentIndex();
  if (u >= vertexCount) { outVertex = vec4(0.0); return; }
  vec4 base = texelFetch(vertexTex, texel(u), 0);
  vec3 v = base.xyz;
  for (int k = 0; k < activeCount; k++) {
    v += activeWeight[k] * texelFetch(vertexDeltas, texel(activeShape[k] * vertexCount + u), 0).xyz;
  }
  int eye = int(texelFetch(vertexEye, texel(u), 0).x);
  if (eye >= 0) v = gazeRotation[eye] * (v - eyeCentre[eye]) + eyeCentre[eye];
  vec3 still = torsoRotation * v + torsoTranslation;
  outVertex = vec4(still + base.w * (headRotation * v + headTranslation - still), 1.0);
}`;

const BIND_FRAGMENT = `${PASS_HEADER}
uniform sampler2D posedVertices, baryOffset, localQuat, logScaleCap;
uniform usampler2D triangleTex;
uniform int count;
layout(location = 0) out vec4 outMean;
layout(location = 1) out vec4 outCovA;
layout(location = 2) out vec4 outCovB;

// Quaternion (w, x, y, z) in .xyzw, as in the file -> rotation matrix.
mat3 qmat(vec4 q) {
  float w = q.x, x = q.y, y = q.z, z = q.w;
  return mat3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
              2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
              2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
}

void main() {
  int i = fragmentIndex();
  if (i >= count) { outMean = vec4(0.0); outCovA = vec4(0.0); outCovB = vec4(0.0); return; }
  ivec2 at = texel(i);
  uvec4 corner = texelFetch(triangleTex, at, 0);
  vec3 c0 = texelFetch(posedVertices, texel(int(corner.x)), 0).xyz;
  vec3 c1 = texelFetch(posedVertices, texel(int(corner.y)), 0).xyz;
  vec3 c2 = texelFetch(posedVertices, texel(int(corner.z)), 0).xyz;
  // The avatar's binding (GaussianAvatars'): the triangle's frame and mean edge.
  vec3 e1 = c1 - c0, e2 = c2 - c0;
  vec3 n = normalize(cross(e1, e2));
  vec3 x = normalize(e1);
  mat3 frame = mat3(x, cross(n, x), n);
  float size = (length(e1) + length(e2) + length(c2 - c1)) / 3.0;
  vec4 baryOff = texelFetch(baryOffset, at, 0);
  vec3 m = baryOff.x * c0 + baryOff.y * c1 + baryOff.z * c2 + baryOff.w * size * n;
  vec4 logCap = texelFetch(logScaleCap, at, 0);
  vec3 s = size * exp(logCap.xyz);
  s = s * pow(1.0 + pow(s / logCap.w, vec3(4.0)), vec3(-0.25));  // the soft cap near the lips and lids
  mat3 rs = frame * qmat(texelFetch(localQuat, at, 0)) * mat3(s.x, 0.0, 0.0, 0.0, s.y, 0.0, 0.0, 0.0, s.z);
  mat3 cov = rs * transpose(rs);
  outMean = vec4(m, 1.0);
  outCovA = vec4(cov[0][0], cov[0][1], cov[0][2], cov[1][1]);
  outCovB = vec4(cov[1][2], cov[2][2], 0.0, 0.0);
}`;

const SPLAT_VERTEX = `${HEADER}
layout(location = 0) in uint splat;
uniform sampler2D posedMean, posedCovA, posedCovB, gaussColour;
uniform mat4 view;          // world -> camera (OpenCV axes), column-major
uniform vec4 intrinsics;    // fx, fy, cx, cy in canvas pixels
uniform vec2 viewport;      // width, height in pixels
out vec4 colour;
out vec3 conic;
out vec2 offset;

void main() {
  ivec2 at = texel(int(splat));
  vec4 c = view * vec4(texelFetch(posedMean, at, 0).xyz, 1.0);
  colour = texelFetch(gaussColour, at, 0);
  float fx = intrinsics.x, fy = intrinsics.y, cx = intrinsics.z, cy = intrinsics.w;
  if (c.z <= 0.01 || colour.a < 1.0 / 255.0) { gl_Position = vec4(0.0, 0.0, 2.0, 1.0); return; }
  vec4 a = texelFetch(posedCovA, at, 0);
  vec4 b = texelFetch(posedCovB, at, 0);
  mat3 world = mat3(a.x, a.y, a.z, a.y, a.w, b.x, a.z, b.x, b.y);
  float tanX = 0.5 * viewport.x / fx, tanY = 0.5 * viewport.y / fy;
  float tx = c.z * clamp(c.x / c.z, -(cx / fx + 0.3 * tanX), (viewport.x - cx) / fx + 0.3 * tanX);
  float ty = c.z * clamp(c.y / c.z, -(cy / fy + 0.3 * tanY), (viewport.y - cy) / fy + 0.3 * tanY);
  mat3 J = mat3(fx / c.z, 0.0, 0.0, 0.0, fy / c.z, 0.0,
                -fx * tx / (c.z * c.z), -fy * ty / (c.z * c.z), 0.0);
  mat3 W = mat3(view);
  mat3 cov = J * W * world * transpose(W) * transpose(J);
  float varX = cov[0][0] + 0.3, varY = cov[1][1] + 0.3, covXY = cov[0][1];
  float det = varX * varY - covXY * covXY;
  if (det <= 0.0) { gl_Position = vec4(0.0, 0.0, 2.0, 1.0); return; }
  conic = vec3(varY, -covXY, varX) / det;
  float extent = sqrt(2.0 * log(colour.a * 255.0));
  vec2 radius = ceil(extent * sqrt(vec2(varX, varY)));
  vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
  vec2 centre = vec2(fx * c.x / c.z + cx, fy * c.y / c.z + cy);
  offset = corner * radius;
  vec2 pixel = centre + offset;
  gl_Position = vec4(2.0 * pixel.x / viewport.x - 1.0, 1.0 - 2.0 * pixel.y / viewport.y, 0.0, 1.0);
}`;

const SPLAT_FRAGMENT = `#version 300 es
precision highp float;
in vec4 colour;
in vec3 conic;
in vec2 offset;
out vec4 fragment;
void main() {
  float sigma = 0.5 * (conic.x * offset.x * offset.x + conic.z * offset.y * offset.y) + conic.y * offset.x * offset.y;
  if (sigma < 0.0) discard;
  float alpha = min(0.999, colour.a * exp(-sigma));
  if (alpha < 1.0 / 255.0) discard;
  fragment = vec4(colour.rgb * alpha, alpha);
}`;

function compile(gl, vertex, fragment) {
  const program = gl.createProgram();
  for (const [type, source] of [[gl.VERTEX_SHADER, vertex], [gl.FRAGMENT_SHADER, fragment]]) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  return program;
}

// A texture of `texels` texels of `channels` components, TEXTURE_WIDTH wide, from `data` (padded).
function dataTexture(gl, internal, format, type, channels, texels, data) {
  const rows = Math.max(1, Math.ceil(texels / TEXTURE_WIDTH));
  const padded = new data.constructor(TEXTURE_WIDTH * rows * channels);
  padded.set(data);
  const texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, internal, TEXTURE_WIDTH, rows, 0, format, type, padded);
  return texture;
}

// A framebuffer drawing into `textures` (colour attachments 0, 1, ...).
function framebuffer(gl, textures) {
  const target = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, target);
  textures.forEach((t, k) => gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, t, 0));
  gl.drawBuffers(textures.map((_, k) => gl.COLOR_ATTACHMENT0 + k));
  if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) throw new Error("float framebuffer incomplete");
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  return target;
}

// (n, 4) rows of `parts` side by side: each [source, its row stride, first column, columns].
function pack(n, parts, Type) {
  const out = new Type(n * 4);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (const [source, stride, start, columns] of parts) {
      for (let k = 0; k < columns; k++) out[i * 4 + c++] = source[i * stride + start + k];
    }
  }
  return out;
}

// Axis-angle (3,) -> rotation matrix (row-major 9) (Rodrigues).
export function axisAngleMatrix([x, y, z]) {
  const angle = Math.hypot(x, y, z);
  if (angle < 1e-12) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const [kx, ky, kz] = [x / angle, y / angle, z / angle];
  const c = Math.cos(angle), s = Math.sin(angle), t = 1 - c;
  return [t * kx * kx + c, t * kx * ky - s * kz, t * kx * kz + s * ky,
          t * kx * ky + s * kz, t * ky * ky + c, t * ky * kz - s * kx,
          t * kx * kz - s * ky, t * ky * kz + s * kx, t * kz * kz + c];
}

// Row-major 3x3 -> column-major Float32Array for uniformMatrix3fv.
const columnMajor3 = (R) => new Float32Array([R[0], R[3], R[6], R[1], R[4], R[7], R[2], R[5], R[8]]);

export class SplatRenderer {
  // `avatar`: {header, arrays} as loadAvatar returns; `canvas`: a WebGL2 canvas.
  constructor(canvas, avatar) {
    const gl = canvas.getContext("webgl2", { antialias: false, alpha: false, preserveDrawingBuffer: true, premultipliedAlpha: false });
    if (!gl) throw new Error("this browser has no WebGL2");
    if (!gl.getExtension("EXT_color_buffer_float")) throw new Error("this browser cannot render to float textures (EXT_color_buffer_float)");
    this.gl = gl;
    this.canvas = canvas;
    this.header = avatar.header;
    const a = avatar.arrays;
    const n = (this.count = avatar.header.count);
    const u = (this.vertexCount = avatar.header.vertices);
    const E = avatar.header.expression_names.length;
    if (E > MAX_SHAPES) throw new Error(`${E} expressions: this viewer plays at most ${MAX_SHAPES}`);
    this.arrays = a;
    const F = gl.FLOAT;
    const floats = (texels, data) => dataTexture(gl, gl.RGBA32F, gl.RGBA, F, 4, texels, data);
    this.textures = {
      vertexTex: floats(u, pack(u, [[a.vertices, 3, 0, 3], [a.vertex_head_weight, 1, 0, 1]], Float32Array)),
      vertexEye: floats(u, pack(u, [[Float32Array.from(a.vertex_eye), 1, 0, 1]], Float32Array)),
      vertexDeltas: dataTexture(gl, gl.RGBA16F, gl.RGBA, gl.HALF_FLOAT, 4, E * u, pack(E * u, [[a.vertex_deltas, 3, 0, 3]], Uint16Array)),
      triangleTex: dataTexture(gl, gl.RGBA32UI, gl.RGBA_INTEGER, gl.UNSIGNED_INT, 4, n, pack(n, [[a.triangles, 3, 0, 3]], Uint32Array)),
      baryOffset: floats(n, pack(n, [[a.bary, 3, 0, 3], [a.offsets, 1, 0, 1]], Float32Array)),
      localQuat: floats(n, a.local_quats),
      logScaleCap: floats(n, pack(n, [[a.log_scales, 3, 0, 3], [a.scale_caps, 1, 0, 1]], Float32Array)),
      gaussColour: floats(n, pack(n, [[a.colours, 3, 0, 3], [a.opacities, 1, 0, 1]], Float32Array)),
    };
    this.rows = Math.max(1, Math.ceil(n / TEXTURE_WIDTH));
    this.vertexRows = Math.max(1, Math.ceil(u / TEXTURE_WIDTH));
    this.textures.posedVertices = floats(u, new Float32Array(u * 4));
    for (const name of ["posedMean", "posedCovA", "posedCovB"]) this.textures[name] = floats(n, new Float32Array(n * 4));
    this.meshTarget = framebuffer(gl, [this.textures.posedVertices]);
    this.bindTarget = framebuffer(gl, ["posedMean", "posedCovA", "posedCovB"].map((name) => this.textures[name]));
    this.meshProgram = compile(gl, PASS_VERTEX, MESH_FRAGMENT);
    this.bindProgram = compile(gl, PASS_VERTEX, BIND_FRAGMENT);
    this.splatProgram = compile(gl, SPLAT_VERTEX, SPLAT_FRAGMENT);
    this.order = new Uint32Array(n);
    this.orderBuffer = gl.createBuffer();
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.orderBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, this.order, gl.DYNAMIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribIPointer(0, 1, gl.UNSIGNED_INT, 0, 0);
    gl.vertexAttribDivisor(0, 1);
    gl.bindVertexArray(null);
    this.means = new Float32Array(TEXTURE_WIDTH * this.rows * 4);
    this.depthKeys = new Uint16Array(n);
  }

  _bind(program, names) {
    const gl = this.gl;
    names.forEach((name, unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[name]);
      gl.uniform1i(gl.getUniformLocation(program, name), unit);
    });
  }

  // Pose the Gaussians: `state` = {weights (E,), gaze [[yaw, pitch], [yaw, pitch]],
  // rotation (row-major 9), translation (3,), torsoRotation, torsoTranslation}.
  pose(state) {
    const gl = this.gl, a = this.arrays;
    const E = this.header.expression_names.length;
    const active = [];
    for (let k = 0; k < E; k++) if (state.weights[k] !== 0) active.push(k);
    let p = this.meshProgram;
    gl.useProgram(p);
    this._bind(p, ["vertexTex", "vertexEye", "vertexDeltas"]);
    gl.uniform1i(gl.getUniformLocation(p, "vertexCount"), this.vertexCount);
    gl.uniform1i(gl.getUniformLocation(p, "activeCount"), active.length);
    const shapes = new Int32Array(MAX_SHAPES), weights = new Float32Array(MAX_SHAPES);
    active.forEach((k, j) => { shapes[j] = k; weights[j] = state.weights[k]; });
    gl.uniform1iv(gl.getUniformLocation(p, "activeShape"), shapes);
    gl.uniform1fv(gl.getUniformLocation(p, "activeWeight"), weights);
    const centres = Float32Array.from(a.eye_centres);
    for (const k of active) for (let c = 0; c < 6; c++) centres[c] += state.weights[k] * a.eye_centre_deltas[k * 6 + c];
    gl.uniform3fv(gl.getUniformLocation(p, "eyeCentre"), centres);
    const gaze = state.gaze.flatMap(([yaw, pitch]) => Array.from(columnMajor3(axisAngleMatrix([-pitch, yaw, 0]))));
    gl.uniformMatrix3fv(gl.getUniformLocation(p, "gazeRotation"), false, new Float32Array(gaze));
    gl.uniformMatrix3fv(gl.getUniformLocation(p, "headRotation"), false, columnMajor3(state.rotation));
    gl.uniformMatrix3fv(gl.getUniformLocation(p, "torsoRotation"), false, columnMajor3(state.torsoRotation));
    gl.uniform3fv(gl.getUniformLocation(p, "headTranslation"), new Float32Array(state.translation));
    gl.uniform3fv(gl.getUniformLocation(p, "torsoTranslation"), new Float32Array(state.torsoTranslation));
    gl.disable(gl.BLEND);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.meshTarget);
    gl.viewport(0, 0, TEXTURE_WIDTH, this.vertexRows);
    gl.drawArrays(gl.TRIANGLES, 0, 3);

    p = this.bindProgram;
    gl.useProgram(p);
    this._bind(p, ["posedVertices", "baryOffset", "localQuat", "logScaleCap", "triangleTex"]);
    gl.uniform1i(gl.getUniformLocation(p, "count"), this.count);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.bindTarget);
    gl.viewport(0, 0, TEXTURE_WIDTH, this.rows);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.readBuffer(gl.COLOR_ATTACHMENT0);
    gl.readPixels(0, 0, TEXTURE_WIDTH, this.rows, gl.RGBA, gl.FLOAT, this.means);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  }

  // Far-to-near order of the posed means for `view` (column-major 16): a 16-bit counting sort.
  _sort(view) {
    const n = this.count, means = this.means, keys = this.depthKeys;
    let near = Infinity, far = -Infinity;
    const depths = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d = view[2] * means[4 * i] + view[6] * means[4 * i + 1] + view[10] * means[4 * i + 2] + view[14];
      depths[i] = d;
      if (d < near) near = d;
      if (d > far) far = d;
    }
    const scale = far > near ? 65535 / (far - near) : 0;
    const counts = new Uint32Array(65537);
    for (let i = 0; i < n; i++) {
      keys[i] = Math.floor((far - depths[i]) * scale);  // far first
      counts[keys[i] + 1]++;
    }
    for (let k = 1; k < counts.length; k++) counts[k] += counts[k - 1];
    for (let i = 0; i < n; i++) this.order[counts[keys[i]]++] = i;
  }

  // Draw the posed Gaussians: `camera` = {view (column-major 16, world -> OpenCV camera),
  // fx, fy, cx, cy in canvas pixels}, onto a uniform grey `background`.
  draw(camera, background) {
    const gl = this.gl, p = this.splatProgram;
    this._sort(camera.view);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.orderBuffer);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, this.order);
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(background, background, background, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(p);
    this._bind(p, ["posedMean", "posedCovA", "posedCovB", "gaussColour"]);
    gl.uniformMatrix4fv(gl.getUniformLocation(p, "view"), false, new Float32Array(camera.view));
    gl.uniform4f(gl.getUniformLocation(p, "intrinsics"), camera.fx, camera.fy, camera.cx, camera.cy);
    gl.uniform2f(gl.getUniformLocation(p, "viewport"), this.canvas.width, this.canvas.height);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    gl.bindVertexArray(this.vao);
    gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, this.count);
    gl.bindVertexArray(null);
  }
}

// Fetch an export folder's header and arrays (typed views on the binary file).
export async function loadAvatar(base) {
  const header = await (await fetch(`${base}blendshapes.json`)).json();
  const payload = await (await fetch(`${base}blendshapes.bin`)).arrayBuffer();
  const types = { "<f4": Float32Array, "i1": Int8Array, "<u4": Uint32Array, "u1": Uint8Array, "<f2": Uint16Array };
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    const Type = types[spec.dtype];
    arrays[name] = new Type(payload, spec.offset, spec.bytes / Type.BYTES_PER_ELEMENT);
  }
  return { header, arrays };
}
