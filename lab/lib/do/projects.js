// Projects and project resources of the emulated DO API. A default project exists from the start;
// new clusters and volumes land in it (as on DO), assigning a URN to another project moves it, and
// deleting a resource removes it from its project. Resources are identified by URN
// (do:kubernetes:ID, do:volume:ID, do:space:BUCKET, ...); only kubernetes and volume URNs are
// checked for existence, other kinds are taken on trust.
'use strict';
const crypto = require('crypto');
const { ApiError, notFound, isoNow } = require('./respond');
const { paginate } = require('./pagination');

const RESOURCE_PATHS = { kubernetes: '/v2/kubernetes/clusters/', volume: '/v2/volumes/' };

class Projects {
  constructor(state) {
    this.state = state;
    if (!this.state.projects.find((p) => p.is_default)) {
      this.create({ name: 'Default', purpose: 'Just trying out DigitalOcean', environment: 'Development' }, true);
    }
  }

  create({ name, description = '', purpose, environment }, isDefault = false) {
    if (this.state.projects.find((p) => p.name === name)) {
      throw new ApiError(409, `a project with the name ${name} already exists`);
    }
    const now = isoNow();
    const account = this.state.account;
    const project = {
      id: crypto.randomUUID(),
      owner_uuid: account.uuid,
      owner_id: account.owner_id,
      name,
      description,
      purpose,
      environment,
      is_default: isDefault,
      created_at: now,
      updated_at: now,
      resources: [],
    };
    this.state.projects.put(project);
    this.state.changed();
    return project;
  }

  defaultProject() {
    return this.state.projects.find((p) => p.is_default);
  }

  byId(id) {
    const project = id === 'default' ? this.defaultProject() : this.state.projects.get(id);
    if (!project) throw notFound();
    return project;
  }

  // Removes the URN from whichever project holds it.
  unassign(urn) {
    for (const project of this.state.projects.all()) {
      const before = project.resources.length;
      project.resources = project.resources.filter((r) => r.urn !== urn);
      if (project.resources.length !== before) this.state.changed();
    }
  }

  assign(project, urn) {
    this.unassign(urn);
    const entry = { urn, assigned_at: isoNow() };
    project.resources.push(entry);
    this.state.changed();
    return entry;
  }

  assignToDefault(urn) {
    return this.assign(this.defaultProject(), urn);
  }

  exists(urn) {
    const [, kind, id] = urn.split(':');
    if (kind === 'kubernetes') return this.state.clusters.has(id);
    if (kind === 'volume') return this.state.volumes.has(id);
    return true;
  }
}

function projectView(project) {
  const { resources, ...view } = project;
  return view;
}

function resourceView(entry, baseUrl, status) {
  const [, kind, id] = entry.urn.split(':');
  const view = { urn: entry.urn, assigned_at: entry.assigned_at, links: {}, status };
  if (RESOURCE_PATHS[kind]) view.links.self = `${baseUrl}${RESOURCE_PATHS[kind]}${id}`;
  return view;
}

function assignResources(projects, project, urns, baseUrl) {
  const resources = urns.map((urn) => {
    if (!projects.exists(urn)) return resourceView({ urn, assigned_at: isoNow() }, baseUrl, 'not_found');
    return resourceView(projects.assign(project, urn), baseUrl, 'assigned');
  });
  return { status: 200, body: { resources } };
}

function listResources(project, ctx) {
  const views = project.resources.map((r) => resourceView(r, ctx.baseUrl, 'ok'));
  return { status: 200, body: paginate(views, 'resources', ctx) };
}

function routes({ projects, state }) {
  return [
    { method: 'GET', path: '/v2/projects',
      handler: (ctx) => ({ status: 200, body: paginate(state.projects.all().map(projectView), 'projects', ctx) }) },
    { method: 'POST', path: '/v2/projects',
      handler: (ctx) => ({ status: 201, body: { project: projectView(projects.create(ctx.body)) } }) },
    { method: 'GET', path: '/v2/projects/default',
      handler: () => ({ status: 200, body: { project: projectView(projects.defaultProject()) } }) },
    { method: 'GET', path: '/v2/projects/{project_id}',
      handler: (ctx) => ({ status: 200, body: { project: projectView(projects.byId(ctx.params.project_id)) } }) },
    { method: 'DELETE', path: '/v2/projects/{project_id}', handler: (ctx) => deleteProject(projects, state, ctx) },
    { method: 'GET', path: '/v2/projects/default/resources',
      handler: (ctx) => listResources(projects.defaultProject(), ctx) },
    { method: 'POST', path: '/v2/projects/default/resources',
      handler: (ctx) => assignResources(projects, projects.defaultProject(), ctx.body.resources || [], ctx.baseUrl) },
    { method: 'GET', path: '/v2/projects/{project_id}/resources',
      handler: (ctx) => listResources(projects.byId(ctx.params.project_id), ctx) },
    { method: 'POST', path: '/v2/projects/{project_id}/resources',
      handler: (ctx) => assignResources(projects, projects.byId(ctx.params.project_id), ctx.body.resources || [], ctx.baseUrl) },
  ];
}

function deleteProject(projects, state, ctx) {
  const project = projects.byId(ctx.params.project_id);
  if (project.is_default) throw new ApiError(412, 'cannot delete the default project');
  if (project.resources.length) throw new ApiError(412, 'cannot delete a project with resources. move or remove the resources first');
  state.projects.delete(project.id);
  state.changed();
  return { status: 204 };
}

module.exports = { Projects, routes };
