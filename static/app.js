// Draw-a-digit page: strokes on a canvas -> POST /predict (PNG bytes) -> digit, bars, and the 28x28 input.
"use strict";

const PREDICT_URL = "/predict";
const PREDICT_INTERVAL_MS = 150; // while drawing, ask the server at most this often
const STROKE_WIDTH = 20; // in canvas pixels (canvas is 280 wide): about 2 px once scaled to MNIST's 20 px box
const INK = "#111";
const PAPER = "#fff";

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

// What is on the canvas: an optional uploaded picture underneath, then the strokes drawn on top.
let strokes = []; // each stroke: array of {x, y} in canvas pixels
let currentStroke = null;
let upload = null; // {file, bitmap} for an uploaded image
let predictTimer = 0; // a prediction waiting to be sent, or 0
let lastRequestId = 0;
let newestShownId = 0; // id of the request whose answer is on screen
let requestsInFlight = 0;
let decodingUpload = false; // an uploaded file is being decoded for display; its prediction comes next

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
  undoButton.disabled = empty;
  clearButton.disabled = empty;
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
  if (strokes.length === 0 && !upload) {
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
    // An upload with nothing drawn on it is sent as the original file, exactly as evaluate.py would read it.
    const body = strokes.length === 0 ? upload.file : await canvasPng();
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
      showError(payload.error || `Server error ${response.status}`, response.status === 422);
    } else {
      showPrediction(payload);
    }
  }
  updateBusy();
}

function canvasPng() {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function showPrediction(result) {
  digitView.textContent = String(result.digit);
  digitView.dataset.digit = String(result.digit);
  // Rounding would show 99.96% as a flat "100.0%"; the model is never certain, so don't claim it.
  const percent = result.confidence >= 0.9995 ? ">99.9" : (result.confidence * 100).toFixed(1);
  confidenceView.textContent = `${percent}% sure`;
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

redraw();
showEmpty();
updateBusy();
