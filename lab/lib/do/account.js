// The emulated DO account: one identity (created once, kept in the state file) and GET /v2/account.
'use strict';
const crypto = require('crypto');

function ensureAccount(state) {
  if (!state.account) {
    state.account = {
      uuid: crypto.randomUUID(),
      owner_id: 1000 + crypto.randomInt(1e6),
      team_uuid: crypto.randomUUID(),
    };
    state.changed();
  }
  return state.account;
}

function accountView(account) {
  return {
    droplet_limit: 25,
    floating_ip_limit: 3,
    volume_limit: 100,
    email: 'lab@example.com',
    name: 'alaris lab',
    uuid: account.uuid,
    email_verified: true,
    status: 'active',
    status_message: '',
    team: { uuid: account.team_uuid, name: 'alaris lab' },
  };
}

function routes({ state }) {
  return [
    { method: 'GET', path: '/v2/account', handler: () => ({ status: 200, body: { account: accountView(ensureAccount(state)) } }) },
  ];
}

module.exports = { ensureAccount, routes };
