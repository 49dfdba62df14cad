// Maps METHOD + URL path to a route of the emulated DO API. Routes are declared with the path
// exactly as DO's OpenAPI description spells it ('/v2/volumes/{volume_id}'), so the same string
// finds the operation's schemas in the description. Literal segments win over parameters
// ('/v2/projects/default' before '/v2/projects/{project_id}').
'use strict';

function compilePattern(specPath) {
  const names = [];
  const source = specPath
    .split('/')
    .map((segment) => {
      const m = /^\{(\w+)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(m[1]);
      return '([^/]+)';
    })
    .join('/');
  return { regex: new RegExp(`^${source}/?$`), names };
}

function paramCount(specPath) {
  return (specPath.match(/\{/g) || []).length;
}

class Router {
  constructor() {
    this.routes = [];
  }

  // route: {method, path, handler, validate?: bool (default true)}
  add(route) {
    this.routes.push({ ...route, method: route.method.toUpperCase(), ...compilePattern(route.path) });
    this.routes.sort((a, b) => paramCount(a.path) - paramCount(b.path));
  }

  addAll(routes) {
    routes.forEach((r) => this.add(r));
  }

  // → {route, params} | {methodNotAllowed: true} | null
  match(method, pathname) {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params = {};
      route.names.forEach((name, i) => { params[name] = decodeURIComponent(m[i + 1]); });
      return { route, params };
    }
    return pathMatched ? { methodNotAllowed: true } : null;
  }
}

module.exports = { Router };
