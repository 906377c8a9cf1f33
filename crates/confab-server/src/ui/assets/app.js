// Confab dashboard: the one thing that needs a browser; pages work without it. It remembers the
// browser's time zone in a cookie so that the server renders times in it, and reloads once on
// the first visit to show them.
(function () {
  "use strict";
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (!zone) { return; }
  var wanted = "confab_tz=" + encodeURIComponent(zone);
  var has = document.cookie.split("; ").indexOf(wanted) >= 0;
  if (has) { return; }
  document.cookie = wanted + "; Path=/; Max-Age=31536000; SameSite=Strict";
  if (document.cookie.split("; ").indexOf(wanted) >= 0 && !sessionStorage.getItem("confab_tz")) {
    sessionStorage.setItem("confab_tz", "1");
    location.reload();
  }
})();
