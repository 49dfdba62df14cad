'use strict';
// `kubectl get` columns of the workload types, as the real server prints them: Deployments (READY UP-TO-DATE
// AVAILABLE AGE), ReplicaSets (DESIRED CURRENT READY AGE), Jobs (STATUS COMPLETIONS DURATION AGE); -o wide adds
// CONTAINERS, IMAGES and SELECTOR. table.js supplies the column helpers.

function podTemplateCells(o) {
  const containers = (o.spec && o.spec.template && o.spec.template.spec && o.spec.template.spec.containers) || [];
  const sel = (o.spec && o.spec.selector) || {};
  const selector = Object.entries(sel.matchLabels || {}).map(([k, v]) => `${k}=${v}`)
    .concat((sel.matchExpressions || []).map((e) => `${e.key} ${String(e.operator).toLowerCase()} (${(e.values || []).join(',')})`)).join(',');
  return [containers.map((c) => c.name).join(',') || '<none>', containers.map((c) => c.image).join(',') || '<none>', selector || '<none>'];
}

function wideColumns(col) {
  return [col('Containers', 'string', 'Names of each container in the template.', { priority: 1 }),
    col('Images', 'string', 'Images referenced by each container in the template.', { priority: 1 }),
    col('Selector', 'string', 'Label selector for pods.', { priority: 1 })];
}

function replicaSetTable({ col, NAME, AGE, age }) {
  return {
    columns: [NAME, col('Desired', 'integer', 'Number of desired pods.'), col('Current', 'integer', 'Number of actual replicas.'),
      col('Ready', 'integer', 'The number of ready replicas for this replica set.'), AGE].concat(wideColumns(col)),
    cells: (rs) => {
      const st = rs.status || {};
      const want = rs.spec && rs.spec.replicas !== undefined ? rs.spec.replicas : 1;
      return [want, st.replicas || 0, st.readyReplicas || 0, age(rs.metadata.creationTimestamp)].concat(podTemplateCells(rs));
    },
  };
}

function deploymentTable({ col, NAME, AGE, age }) {
  return {
    columns: [NAME, col('Ready', 'string', 'Number of the pod with ready state'),
      col('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
      col('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'), AGE]
      .concat(wideColumns(col)),
    cells: (d) => {
      const st = d.status || {};
      const want = d.spec && d.spec.replicas !== undefined ? d.spec.replicas : 1;
      return [`${st.readyReplicas || 0}/${want}`, st.updatedReplicas || 0, st.availableReplicas || 0, age(d.metadata.creationTimestamp)]
        .concat(podTemplateCells(d));
    },
  };
}

function jobDuration(j, humanDuration) {
  const st = j.status || {};
  if (!st.startTime) return '';
  const end = st.completionTime ? Date.parse(st.completionTime) : Date.now();
  return humanDuration(end - Date.parse(st.startTime));
}

function jobStatus(j) {
  const conditions = (j.status && j.status.conditions) || [];
  const done = conditions.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  if (done) return done.type;
  if (j.spec && j.spec.suspend) return 'Suspended';
  return 'Running';
}

function jobTable({ col, NAME, AGE, age, humanDuration }) {
  return {
    columns: [NAME, col('Status', 'string', 'Status of the job.'), col('Completions', 'string', 'The completion status of the job.'),
      col('Duration', 'string', 'Time required to complete the job.'), AGE].concat(wideColumns(col)),
    cells: (j) => {
      const st = j.status || {};
      const completions = j.spec && j.spec.completions !== undefined && j.spec.completions !== null ? j.spec.completions : null;
      const count = completions === null ? `${st.succeeded || 0}/1 of ${(j.spec && j.spec.parallelism) || 1}` : `${st.succeeded || 0}/${completions}`;
      return [jobStatus(j), count, jobDuration(j, humanDuration), age(j.metadata.creationTimestamp)].concat(podTemplateCells(j));
    },
  };
}

module.exports = { replicaSetTable, deploymentTable, jobTable };
