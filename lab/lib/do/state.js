// The DO API's account state (clusters, volumes, projects, registry, account identity), kept in
// memory in creation order and saved to DIR/do-state.json so a restarted lab keeps it. Writes are
// batched (one save per turn of the event loop) and flushed on close. Spaces keys are not here:
// they live in the shared key store.
'use strict';
const fs = require('fs');
const path = require('path');

const STATE_FILE = 'do-state.json';

class Collection {
  constructor(items = []) {
    this.byId = new Map(items.map((item) => [item.id, item]));
  }

  all() { return [...this.byId.values()]; }
  get(id) { return this.byId.get(id); }
  has(id) { return this.byId.has(id); }
  put(item) { this.byId.set(item.id, item); return item; }
  delete(id) { return this.byId.delete(id); }
  find(predicate) { return this.all().find(predicate); }
  toJSON() { return this.all(); }
}

class State {
  constructor(dir) {
    this.file = dir ? path.join(dir, STATE_FILE) : null;
    const saved = this.read();
    this.account = saved.account || null;
    this.registry = saved.registry || null;
    this.clusters = new Collection(saved.clusters);
    this.volumes = new Collection(saved.volumes);
    this.projects = new Collection(saved.projects);
    this.saveScheduled = false;
  }

  read() {
    if (!this.file || !fs.existsSync(this.file)) return {};
    return JSON.parse(fs.readFileSync(this.file, 'utf8'));
  }

  changed() {
    if (!this.file || this.saveScheduled) return;
    this.saveScheduled = true;
    setImmediate(() => this.flush());
  }

  flush() {
    this.saveScheduled = false;
    if (!this.file) return;
    const snapshot = {
      account: this.account,
      registry: this.registry,
      clusters: this.clusters,
      volumes: this.volumes,
      projects: this.projects,
    };
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(snapshot), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}

module.exports = { State, Collection, STATE_FILE };
