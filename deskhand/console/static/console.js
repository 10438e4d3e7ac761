// deskhand console keyboard shortcuts: j/k move (queue rows, or next/previous draft), Enter opens,
// a approves, e edits the reply, r goes to the rejection reason. Keys typed into fields are left alone.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("table[data-keys=list] tbody tr"));
  var at = -1;
  function select(i) {
    if (!rows.length) { return; }
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, j) { r.classList.toggle("selected", j === at); });
    var link = rows[at].querySelector("a.row-link");
    if (link) { link.focus(); }
  }
  function go(id) { var a = document.getElementById(id); if (a) { window.location.href = a.href; } }
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
      if (ev.key === "Escape") { ev.target.blur(); }
      return;
    }
    var approve = document.getElementById("approve-form");
    if (ev.key === "j") { if (rows.length) { select(at + 1); } else { go("next"); } }
    else if (ev.key === "k") { if (rows.length) { select(at - 1); } else { go("prev"); } }
    else if (ev.key === "a" && approve) { approve.requestSubmit(); }
    else if (ev.key === "e" && approve) { document.getElementById("body").focus(); }
    else if (ev.key === "r" && document.getElementById("reason")) { document.getElementById("reason").focus(); }
    else { return; }
    ev.preventDefault();
  });
}());
