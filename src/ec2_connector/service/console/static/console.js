// The console's only script: keeps the jobs list and a job's status live without a
// reload, by asking the service's own JSON routes every 1.5 s. Text goes in as text
// (textContent), never as HTML.
"use strict";
(function () {
  const EVERY_MS = 1500;

  const LABELS = ["job", "status", "action", "connector", "submitted by", "age", "message"];

  function cell(row, content) {
    const td = document.createElement("td");
    td.dataset.label = LABELS[row.children.length];
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    row.appendChild(td);
  }

  function draw(body, jobs) {
    const rows = jobs.map(function (job) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = "/console/jobs/" + encodeURIComponent(job.id);
      link.textContent = job.id;
      const status = document.createElement("span");
      status.className = "status s-" + job.status;
      status.textContent = job.status;
      cell(tr, link); cell(tr, status);
      ["action", "connector", "submitted-by", "age", "message"].forEach(function (k) {
        cell(tr, job[k] || "");
      });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    const none = document.getElementById("no-jobs");
    if (none) none.hidden = jobs.length > 0;
  }

  function poll(url, then) {
    function once() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) { if (then(data) !== false) setTimeout(once, EVERY_MS); })
        .catch(function () { setTimeout(once, EVERY_MS * 2); });
    }
    setTimeout(once, EVERY_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const list = document.getElementById("job-rows");
    if (list) {
      poll(list.dataset.live + window.location.search, function (jobs) { draw(list, jobs); });
    }
    const status = document.getElementById("job-status");
    if (status && status.dataset.done === "no") {
      poll(status.dataset.live, function (job) {
        status.textContent = job.status;
        status.className = "status s-" + job.status;
        const done = ["succeeded", "failed", "timed-out", "interrupted", "resumed"];
        if (done.indexOf(job.status) >= 0) { window.location.reload(); return false; }
        return true;
      });
    }
  });
})();
