/*
 * Bianmin resident pages' service worker, scope /resident (see
 * server/src/web/resident/assets.rs and docs/residents.md).
 *
 * - The resident pages visited are kept (network first; the kept copy when the network fails),
 *   so that the filing and supplement forms open offline. Not kept: the sign-in and
 *   activation pages, redirects, anything but a page answered 200.
 * - The scripts (addresses with their content's hash: kept for good) and the style sheet
 *   (network first) are kept too.
 * - Background Sync, where the browser has it, sends what the pages saved (outbox.js).
 */
importScripts('__OUTBOX_URL__');

var O = self.BianminOutbox;
var STATIC_PREFIX = 'bianmin-resident-static-';
var STATIC = STATIC_PREFIX + '__VERSION__';
var PAGES = O.PAGES_CACHE;
var ASSETS = ['/assets/bianmin.css', '__OUTBOX_URL__', '__PAGE_URL__'];
var NOT_KEPT = ['/resident/sign-in', '/resident/sign-out', '/resident/activate', '/resident/sw.js'];

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(STATIC).then(function (cache) {
    return cache.addAll(ASSETS);
  }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf(STATIC_PREFIX) === 0 && k !== STATIC;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () {
    return self.clients.claim();
  }));
});

function residentPage(url) {
  return (url.pathname === '/resident' || url.pathname.indexOf('/resident/') === 0) &&
    NOT_KEPT.indexOf(url.pathname) < 0 && url.pathname.indexOf('/resident/uploads') !== 0;
}

/* Keeps `response` to the page request `request` if it is a plain 200 page. */
function keep(request, response) {
  var type = response.headers.get('Content-Type') || '';
  if (!response.ok || response.redirected || response.type !== 'basic' ||
      type.indexOf('text/html') !== 0) {
    return Promise.resolve();
  }
  var copy = response.clone();
  return caches.open(PAGES).then(function (cache) { return cache.put(request, copy); });
}

function offlinePage() {
  var html = '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<title>没有网络 · No network</title><link rel="stylesheet" href="/assets/bianmin.css"></head>' +
    '<body class="phone"><main><div class="resident"><h1>没有网络 · No network</h1>' +
    '<p>这个页面没有保存在本手机上。请在有网络时再打开。</p>' +
    '<p>This page is not kept on this phone. Open it again when there is a network.</p>' +
    '<p><a href="/resident">我的办件 · My requests</a></p></div></main></body></html>';
  return new Response(html, {
    status: 503,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }
  });
}

function page(event, url) {
  var request = event.request;
  return fetch(request).then(function (response) {
    if (residentPage(url)) { event.waitUntil(keep(request, response)); }
    return response;
  }, function () {
    return caches.open(PAGES).then(function (cache) {
      return cache.match(request).then(function (hit) {
        return hit || cache.match(request, { ignoreSearch: true });
      });
    }).then(function (hit) {
      return hit || offlinePage();
    });
  });
}

function asset(request, url) {
  var hashed = /^\/assets\/resident-[a-z]+\.[0-9a-f]{12}\.js$/.test(url.pathname);
  if (hashed) {
    return caches.match(request).then(function (hit) {
      return hit || fetch(request).then(function (response) {
        if (response.ok) {
          var copy = response.clone();
          caches.open(STATIC).then(function (cache) { cache.put(request, copy); });
        }
        return response;
      });
    });
  }
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(STATIC).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }, function () {
    return caches.match(request).then(function (hit) {
      return hit || new Response('', { status: 503 });
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf('/assets/') === 0) {
    event.respondWith(asset(request, url));
  } else if (request.mode === 'navigate' && residentPage(url)) {
    event.respondWith(page(event, url));
  }
});

/* A page asks for pages to be kept (itself, when it was fetched before this worker ran; the
 * forms its list leads to). */
self.addEventListener('message', function (event) {
  var data = event.data || {};
  if (!Array.isArray(data.keep)) { return; }
  event.waitUntil(Promise.all(data.keep.slice(0, 50).map(function (path) {
    var url = new URL(path, self.location.origin);
    if (url.origin !== self.location.origin || !residentPage(url)) { return null; }
    var request = new Request(url.href, { credentials: 'same-origin' });
    return fetch(request).then(function (response) {
      return keep(request, response);
    }).catch(function () {});
  })));
});

self.addEventListener('sync', function (event) {
  if (event.tag !== O.SYNC_TAG) { return; }
  event.waitUntil(O.sendAll().then(function (left) {
    /* Still waiting: the browser tries again later. */
    if (left) { throw new Error('not yet sent'); }
  }));
});
