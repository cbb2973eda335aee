// The console's only script: keeps the jobs list and a job's status live without a
// reload, by asking the service's own JSON routes every 1.5 s. Text goes in as text
// (textContent), never as HTML. The rows are redrawn only when something changed, the
// focus stays on the job it was on, and what changed is said once in a polite live
// region (not the whole table on every poll).
"use strict";
(function () {
  const EVERY_MS = 1500;
  const LABELS = ["job", "status", "action", "connector", "submitted by", "age", "message"];
  const DONE = ["succeeded", "failed", "timed-out", "interrupted", "resumed", "cancelled"];

  function cell(row, content) {
    const td = document.createElement("td");
    td.dataset.label = LABELS[row.children.length];
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    row.appendChild(td);
  }

  function rowOf(job) {
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
  }

  // What a person would want to hear about: new jobs and status changes.
  function news(before, jobs) {
    const said = [];
    jobs.forEach(function (job) {
      if (!(job.id in before)) said.push("new job " + job.id.slice(0, 8) + ": " + job.status);
      else if (before[job.id] !== job.status) said.push("job " + job.id.slice(0, 8) + ": " + job.status);
    });
    return said.join("; ");
  }

  function lister(body) {
    let drawn = "";
    let statuses = {};  // as the server drew them: news is what changed since
    Array.prototype.forEach.call(body.querySelectorAll("tr"), function (tr) {
      statuses[tr.querySelector("a").textContent] = tr.querySelector(".status").textContent;
    });
    return function (jobs) {
      const text = JSON.stringify(jobs);
      if (text === drawn) return;
      drawn = text;
      const focused = body.contains(document.activeElement) ?
        document.activeElement.closest("tr").querySelector("a").textContent : null;
      body.replaceChildren.apply(body, jobs.map(rowOf));
      if (focused) {
        const again = Array.prototype.find.call(body.querySelectorAll("a"),
          function (a) { return a.textContent === focused; });
        if (again) again.focus();
      }
      const none = document.getElementById("no-jobs");
      if (none) none.hidden = jobs.length > 0;
      const now = {};
      jobs.forEach(function (job) { now[job.id] = job.status; });
      const live = document.getElementById("jobs-news");
      if (live) {
        const said = news(statuses, jobs);
        if (said) live.textContent = said;
      }
      statuses = now;
    };
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
      const draw = lister(list);
      poll(list.dataset.live + window.location.search, draw);
    }
    const status = document.getElementById("job-status");
    if (status && status.dataset.done === "no") {
      poll(status.dataset.live, function (job) {
        status.textContent = job.status;
        status.className = "status s-" + job.status;
        if (DONE.indexOf(job.status) >= 0) { window.location.reload(); return false; }
        return true;
      });
    }
  });
})();
