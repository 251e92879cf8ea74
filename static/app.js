// Draw-a-digit page: strokes on a canvas, an uploaded file, or the camera's guide box -> POST /predict
// (the image's bytes) -> digit, bars, and the 28x28 input.
"use strict";

const PREDICT_URL = "/predict";
const PREDICT_INTERVAL_MS = 150; // while drawing, ask the server at most this often
const STROKE_WIDTH = 20; // in canvas pixels (canvas is 280 wide): about 2 px once scaled to MNIST's 20 px box
const INK = "#111";
const PAPER = "#fff";
const CAMERA_INTERVAL_MS = 250; // camera mode: a prediction at most this often (and never two in flight)
const GUIDE_FRACTION = 0.5; // the guide box's side, as a fraction of the camera picture's shorter side
const CROP_SIZE = 280; // the guide box is sent at this size, like the canvas
const CROP_QUALITY = 0.92; // JPEG: a camera picture's noise makes PNGs several times larger

const canvas = document.getElementById("canvas");
const context = canvas.getContext("2d");
const undoButton = document.getElementById("undo");
const clearButton = document.getElementById("clear");
const uploadInput = document.getElementById("upload");
const digitView = document.getElementById("digit");
const confidenceView = document.getElementById("confidence");
const preprocessedView = document.getElementById("preprocessed");
const barsList = document.getElementById("bars");
const statusView = document.getElementById("status");
const cameraView = document.getElementById("camera");
const video = document.getElementById("video");
const guide = document.getElementById("guide");
const cameraButton = document.getElementById("camera-toggle");
const freezeButton = document.getElementById("freeze");
const cropCanvas = document.createElement("canvas");
cropCanvas.width = CROP_SIZE;
cropCanvas.height = CROP_SIZE;

// What is on the canvas: an optional uploaded picture underneath, then the strokes drawn on top.
let strokes = []; // each stroke: array of {x, y} in canvas pixels
let currentStroke = null;
let upload = null; // {file, bitmap} for an uploaded image
let predictTimer = 0; // a prediction waiting to be sent, or 0
let lastRequestId = 0;
let newestShownId = 0; // id of the request whose answer is on screen
let requestsInFlight = 0;
let decodingUpload = false; // an uploaded file is being decoded for display; its prediction comes next
// Camera mode: the live stream, whether the picture is frozen, the next tick, and answers shown so far.
const camera = { stream: null, frozen: false, timer: 0, answers: 0 };

const bars = [];
for (let digit = 0; digit < 10; digit++) {
  const row = document.createElement("li");
  row.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="fill"></span></span><span class="percent"></span>`;
  barsList.appendChild(row);
  bars.push({ row, fill: row.querySelector(".fill"), percent: row.querySelector(".percent") });
}

function redraw() {
  context.fillStyle = PAPER;
  context.fillRect(0, 0, canvas.width, canvas.height);
  if (upload && upload.bitmap) {
    // Fit the picture inside the square, keeping its aspect ratio.
    const scale = Math.min(canvas.width / upload.bitmap.width, canvas.height / upload.bitmap.height);
    const width = upload.bitmap.width * scale;
    const height = upload.bitmap.height * scale;
    context.drawImage(upload.bitmap, (canvas.width - width) / 2, (canvas.height - height) / 2, width, height);
  }
  context.strokeStyle = INK;
  context.fillStyle = INK;
  context.lineWidth = STROKE_WIDTH;
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const stroke of strokes) {
    drawStroke(stroke);
  }
  const empty = strokes.length === 0 && !upload;
  undoButton.disabled = empty || camera.stream !== null;
  clearButton.disabled = empty || camera.stream !== null;
}

function drawStroke(stroke) {
  if (stroke.length === 1) {
    // A tap leaves a dot.
    context.beginPath();
    context.arc(stroke[0].x, stroke[0].y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
    context.fill();
    return;
  }
  context.beginPath();
  context.moveTo(stroke[0].x, stroke[0].y);
  for (const point of stroke.slice(1)) {
    context.lineTo(point.x, point.y);
  }
  context.stroke();
}

function canvasPoint(event) {
  // The canvas is drawn at 280x280 but shown at whatever size the layout gives it.
  const box = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * canvas.width) / box.width,
    y: ((event.clientY - box.top) * canvas.height) / box.height,
  };
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  currentStroke = [canvasPoint(event)];
  strokes.push(currentStroke);
  redraw();
});

canvas.addEventListener("pointermove", (event) => {
  if (!currentStroke) return;
  event.preventDefault();
  // Coalesced events keep fast pen and touch strokes smooth.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const each of events.length ? events : [event]) {
    currentStroke.push(canvasPoint(each));
  }
  redraw();
  schedulePrediction();
});

function endStroke() {
  if (!currentStroke) return;
  currentStroke = null;
  schedulePrediction(0);
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

undoButton.addEventListener("click", () => {
  if (strokes.length > 0) {
    strokes.pop();
  } else {
    upload = null;
  }
  redraw();
  schedulePrediction(0);
});

clearButton.addEventListener("click", () => {
  strokes = [];
  upload = null;
  uploadInput.value = "";
  redraw();
  schedulePrediction(0);
});

uploadInput.addEventListener("change", async () => {
  const file = uploadInput.files[0];
  if (!file) return;
  stopCamera();
  strokes = [];
  decodingUpload = true;
  updateBusy();
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    // Not something the browser can show; the server still says what is wrong with it.
  }
  decodingUpload = false;
  upload = { file, bitmap };
  redraw();
  schedulePrediction(0);
});

function schedulePrediction(delay = PREDICT_INTERVAL_MS) {
  // While a stroke is drawn, ask at most once per interval; when it ends (delay 0), ask right away.
  if (predictTimer && delay > 0) return;
  clearTimeout(predictTimer);
  predictTimer = setTimeout(() => {
    predictTimer = 0;
    predict();
  }, delay);
  updateBusy();
}

function updateBusy() {
  // data-busy="false" means the result shown is the answer for what is on the canvas now (tests wait on it).
  document.body.dataset.busy = String(decodingUpload || predictTimer !== 0 || requestsInFlight > 0);
}

async function predict() {
  const requestId = ++lastRequestId;
  if (!camera.stream && strokes.length === 0 && !upload) {
    newestShownId = requestId;
    showEmpty();
    updateBusy();
    return;
  }
  requestsInFlight++;
  updateBusy();
  let response = null;
  let payload = null;
  let failure = null;
  try {
    const body = await requestBody();
    response = await fetch(PREDICT_URL, { method: "POST", body, headers: { "Content-Type": body.type || "application/octet-stream" } });
    payload = await response.json();
  } catch (error) {
    failure = error;
  } finally {
    requestsInFlight--;
  }
  // Answers can arrive out of order; one older than what is on screen is dropped.
  if (requestId > newestShownId) {
    newestShownId = requestId;
    if (failure) {
      showError(`Could not reach the server (${failure.message}). Is app.py still running?`);
    } else if (!response.ok) {
      const blank = response.status === 422;
      const message = blank && camera.stream ? "No digit in the box yet: hold one up inside it." : payload.error;
      showError(message || `Server error ${response.status}`, blank);
    } else {
      showPrediction(payload);
    }
    if (camera.stream) {
      camera.answers++;
      document.body.dataset.cameraAnswers = String(camera.answers);
    }
  }
  updateBusy();
}

function requestBody() {
  if (camera.stream) return cameraFrame();
  // An upload with nothing drawn on it is sent as the original file, exactly as evaluate.py would read it.
  if (strokes.length === 0) return upload.file;
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// --- Camera mode ---------------------------------------------------------------------------------------

function guideRect() {
  // The guide box in the camera picture's own pixels: a centred square.
  const side = Math.round(Math.min(video.videoWidth, video.videoHeight) * GUIDE_FRACTION);
  return { x: Math.round((video.videoWidth - side) / 2), y: Math.round((video.videoHeight - side) / 2), side };
}

function placeGuide() {
  // The video is shown at its own aspect ratio, so percentages of its size place the box exactly.
  const box = guideRect();
  guide.style.left = `${(100 * box.x) / video.videoWidth}%`;
  guide.style.top = `${(100 * box.y) / video.videoHeight}%`;
  guide.style.width = `${(100 * box.side) / video.videoWidth}%`;
  guide.style.height = `${(100 * box.side) / video.videoHeight}%`;
}

function cameraFrame() {
  // Only what is inside the guide box is sent, so the rest of the room cannot be mistaken for the digit.
  const box = guideRect();
  const context = cropCanvas.getContext("2d");
  context.drawImage(video, box.x, box.y, box.side, box.side, 0, 0, CROP_SIZE, CROP_SIZE);
  return new Promise((resolve) => cropCanvas.toBlob(resolve, "image/jpeg", CROP_QUALITY));
}

function cameraTick() {
  camera.timer = 0;
  if (!camera.stream || camera.frozen) return;
  // A slow server sets the pace: a new frame goes only once the last answer is in.
  if (requestsInFlight === 0 && video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth > 0) {
    predict();
  }
  camera.timer = setTimeout(cameraTick, CAMERA_INTERVAL_MS);
}

function setCameraState(state) {
  document.body.dataset.camera = state; // "off", "starting", "live" or "frozen" (tests wait on it)
  const on = state !== "off";
  cameraView.hidden = !on;
  canvas.hidden = on;
  freezeButton.hidden = !on;
  cameraButton.textContent = on ? "Stop camera" : "Use camera";
  cameraButton.setAttribute("aria-pressed", String(on));
  freezeButton.textContent = state === "frozen" ? "Resume" : "Freeze";
  freezeButton.setAttribute("aria-pressed", String(state === "frozen"));
  cameraView.classList.toggle("frozen", state === "frozen");
  redraw();
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("This browser allows the camera only on a secure page: open the app at http://localhost or http://127.0.0.1.");
    return;
  }
  setCameraState("starting");
  let stream = null;
  try {
    // The back camera on a phone; any camera on a computer.
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1280 } }, audio: false });
  } catch (error) {
    setCameraState("off");
    const reasons = { NotAllowedError: "the camera was not allowed", NotFoundError: "no camera was found" };
    showError(`Cannot use the camera: ${reasons[error.name] || error.message}.`);
    return;
  }
  camera.stream = stream;
  camera.frozen = false;
  camera.answers = 0;
  video.srcObject = stream;
  await video.play().catch(() => {});
  if (video.videoWidth === 0) {
    await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
  }
  if (camera.stream !== stream) return; // stopped while starting
  placeGuide();
  setCameraState("live");
  cameraTick();
}

function stopCamera() {
  if (!camera.stream) return;
  clearTimeout(camera.timer);
  camera.timer = 0;
  for (const track of camera.stream.getTracks()) {
    track.stop();
  }
  camera.stream = null;
  camera.frozen = false;
  video.srcObject = null;
  setCameraState("off");
  schedulePrediction(0); // back to what is on the canvas
}

cameraButton.addEventListener("click", () => {
  if (camera.stream || document.body.dataset.camera === "starting") {
    stopCamera();
  } else {
    startCamera();
  }
});

freezeButton.addEventListener("click", () => {
  if (!camera.stream) return;
  camera.frozen = !camera.frozen;
  if (camera.frozen) {
    // The picture stops on the frame whose answer is shown (the next tick is cancelled).
    clearTimeout(camera.timer);
    camera.timer = 0;
    video.pause();
    setCameraState("frozen");
  } else {
    video.play().catch(() => {});
    setCameraState("live");
    cameraTick();
  }
});

video.addEventListener("resize", () => camera.stream && placeGuide());

function showPrediction(result) {
  // Rounding would show 99.96% as a flat "100.0%"; the model is never certain, so don't claim it.
  const percent = result.confidence >= 0.9995 ? ">99.9" : (result.confidence * 100).toFixed(1);
  if (result.not_a_digit) {
    // The model's answer that this is a letter, a symbol or a doodle: an answer, not an error.
    digitView.textContent = "\u2715";
    digitView.dataset.digit = "none";
    confidenceView.textContent = `Not a digit (${percent}% sure)`;
  } else {
    digitView.textContent = String(result.digit);
    digitView.dataset.digit = String(result.digit);
    confidenceView.textContent = result.low_confidence ? `${percent}% sure: a guess` : `${percent}% sure`;
  }
  confidenceView.classList.toggle("unsure", Boolean(result.low_confidence || result.not_a_digit));
  preprocessedView.src = result.preprocessed;
  preprocessedView.hidden = false;
  result.probabilities.forEach((probability, digit) => {
    bars[digit].fill.style.width = `${(probability * 100).toFixed(1)}%`;
    bars[digit].percent.textContent = `${Math.round(probability * 100)}%`;
    bars[digit].row.classList.toggle("top", digit === result.digit);
  });
  statusView.textContent = "";
  statusView.classList.remove("error");
  document.body.dataset.state = "predicted";
}

function resetResult(confidenceText) {
  digitView.textContent = "?";
  delete digitView.dataset.digit;
  confidenceView.textContent = confidenceText;
  confidenceView.classList.remove("unsure");
  preprocessedView.removeAttribute("src");
  preprocessedView.hidden = true;
  for (const bar of bars) {
    bar.fill.style.width = "0";
    bar.percent.textContent = "";
    bar.row.classList.remove("top");
  }
}

function showEmpty() {
  resetResult("Draw to start");
  statusView.textContent = "";
  statusView.classList.remove("error");
  document.body.dataset.state = "empty";
}

function showError(message, isBlank = false) {
  resetResult(isBlank ? "Nothing to read yet" : "No prediction");
  statusView.textContent = message;
  statusView.classList.toggle("error", !isBlank);
  document.body.dataset.state = "error";
}

setCameraState("off");
showEmpty();
updateBusy();
