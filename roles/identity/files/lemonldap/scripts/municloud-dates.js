/* municloud (roles/identity): the portal's dates in the municipality's locale and time
 * zone. LemonLDAP::NG 2.16's scripts (portal.js: the login history, notifications, ...)
 * show every date with Date.prototype.toLocaleString() and no arguments, that is in the
 * browser's locale and time zone. nginx loads this file in each page's head with the
 * locale of the page's language and the municipality's time zone as data attributes;
 * a call that names its own locale or options is left as it is. */
(function () {
  "use strict";
  var tag = document.currentScript;
  var locale = tag && tag.getAttribute("data-locale");
  var zone = tag && tag.getAttribute("data-timezone");
  if (!locale || !zone) {
    return;
  }
  var own = Date.prototype.toLocaleString;
  Date.prototype.toLocaleString = function (locales, options) {
    return own.call(this, locales === undefined ? locale : locales,
                    options === undefined ? { timeZone: zone } : options);
  };
}());
