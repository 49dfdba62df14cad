// DigitalOcean-style pagination of list responses: `page` (1-based) and `per_page` (default 20,
// at most 200) query parameters; `links.pages` with absolute first/prev/next/last URLs that keep
// the other query parameters; `meta.total`. It slices arrays; it does not sort or filter.
'use strict';

const DEFAULT_PER_PAGE = 20;
const MAX_PER_PAGE = 200;

function positiveInt(value, fallback) {
  if (value === null || value === undefined || value === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : fallback;
}

function pageParams(query) {
  const perPage = Math.min(positiveInt(query.get('per_page'), DEFAULT_PER_PAGE), MAX_PER_PAGE);
  const page = positiveInt(query.get('page'), 1);
  return { page, perPage };
}

function pageUrl(baseUrl, pathname, query, page, perPage) {
  const q = new URLSearchParams(query);
  q.set('page', String(page));
  q.set('per_page', String(perPage));
  return `${baseUrl}${pathname}?${q.toString()}`;
}

// items: the whole filtered list; key: the property name DO uses ('volumes', 'kubernetes_clusters').
function paginate(items, key, { baseUrl, pathname, query }) {
  const { page, perPage } = pageParams(query);
  const total = items.length;
  const lastPage = Math.max(1, Math.ceil(total / perPage));
  const start = (page - 1) * perPage;
  const pages = {};
  const url = (p) => pageUrl(baseUrl, pathname, query, p, perPage);
  if (page > 1) {
    pages.first = url(1);
    pages.prev = url(Math.min(page - 1, lastPage));
  }
  if (page < lastPage) {
    pages.next = url(page + 1);
    pages.last = url(lastPage);
  }
  const links = Object.keys(pages).length ? { pages } : {};
  return { [key]: items.slice(start, start + perPage), links, meta: { total } };
}

module.exports = { paginate, pageParams, DEFAULT_PER_PAGE, MAX_PER_PAGE };
