// Compares keyhaven's expected decisions (tests/data/*.json, checked by `cargo test`) with
// @cloud-copilot/iam-simulate's. Prints one line per disagreement and a summary.
// Usage: node compare.cjs <data-dir> [--all]   (IAM_SIMULATE_DIR: where the package is installed)
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(process.env.IAM_SIMULATE_DIR, 'node_modules/@cloud-copilot/iam-simulate/dist/cjs');
// The public runner drops session policies, so call the engine the runner wraps.
const { authorize } = require(path.join(root, 'core_engine/CoreSimulatorEngine.js'));
const requireInstalled = require('module').createRequire(path.join(process.env.IAM_SIMULATE_DIR, 'package.json'));
const { loadPolicy } = requireInstalled('@cloud-copilot/iam-policy');
const { RequestContextImpl } = require(path.join(root, 'requestContext.js'));
const { AwsRequestImpl } = require(path.join(root, 'request/request.js'));
const { DiscoveryContextKeyConstraints } = require(path.join(root, 'context_keys/discoveryContextKeyConstraints.js'));

const ACCOUNT = '111122223333';

// The principals the data files name (same as tests/evaluation_table.rs).
const NAMED = {
  alice: { kind: 'user', arn: 'arn:aws:iam::111122223333:user/alice' },
  bob: { kind: 'user', arn: 'arn:aws:iam::111122223333:user/bob' },
  'carol@B': { kind: 'user', arn: 'arn:aws:iam::444455556666:user/carol' },
  root: { kind: 'root', arn: 'arn:aws:iam::111122223333:root' },
  'root@B': { kind: 'root', arn: 'arn:aws:iam::444455556666:root' },
  session: { kind: 'assumed_role', arn: 'arn:aws:sts::111122223333:assumed-role/Admin/alice-session', role: 'arn:aws:iam::111122223333:role/Admin' },
  'session@B': { kind: 'assumed_role', arn: 'arn:aws:sts::444455556666:assumed-role/Reader/s1', role: 'arn:aws:iam::444455556666:role/Reader' },
  federated: { kind: 'federated_user', arn: 'arn:aws:sts::111122223333:federated-user/fred', user: 'arn:aws:iam::111122223333:user/alice' },
  anonymous: { kind: 'anonymous', arn: 'anonymous' },
};

function principalOf(value) {
  if (typeof value === 'string') return NAMED[value];
  if (value.assumed_role) return { kind: 'assumed_role', arn: value.assumed_role, role: value.role };
  if (value.federated_user) return { kind: 'federated_user', arn: value.federated_user, user: value.user };
  if (value.user) return { kind: 'user', arn: value.user };
  if (value.root) return { kind: 'root', arn: `arn:aws:iam::${value.root}:root` };
  if (value.service) return { kind: 'service', arn: value.service };
  if (value.web_identity) return { kind: 'web_identity', arn: value.web_identity };
  throw new Error(`bad principal ${JSON.stringify(value)}`);
}

// The keys keyhaven's Context::builder().principal() sets.
function principalKeys(p) {
  const keys = {};
  const account = p.arn.startsWith('arn:') ? p.arn.split(':')[4] : '';
  const arn = { root: p.arn, user: p.arn, assumed_role: p.role, federated_user: p.arn }[p.kind];
  const type = { root: 'Account', user: 'User', assumed_role: 'AssumedRole', federated_user: 'FederatedUser', anonymous: 'Anonymous' }[p.kind];
  if (arn) {
    keys['aws:PrincipalArn'] = arn;
    keys['aws:PrincipalAccount'] = account;
  }
  if (type) keys['aws:PrincipalType'] = type;
  if (p.kind === 'user') keys['aws:username'] = p.arn.split('/').pop();
  keys['aws:PrincipalIsAWSService'] = String(p.kind === 'service');
  if (p.kind === 'service') keys['aws:PrincipalServiceName'] = p.arn;
  return keys;
}

function text(v) {
  return typeof v === 'string' ? v : String(v);
}

function run(c) {
  const p = principalOf(c.principal);
  const context = principalKeys(p);
  for (const [key, value] of Object.entries(c.context || {})) {
    for (const existing of Object.keys(context)) if (existing.toLowerCase() === key.toLowerCase()) delete context[existing];
    if (Array.isArray(value)) {
      if (value.length > 0) context[key] = value.map(text);
    } else {
      context[key] = text(value);
    }
  }
  const load = (doc, name) => loadPolicy(doc, { name });
  const session = c.session && c.session.length
    ? load({ Version: '2012-10-17', Statement: c.session.flatMap((d) => [].concat(d.Statement)) }, 'session')
    : undefined;
  const principal = p.kind === 'anonymous' ? { type: 'Anonymous' } : p.arn;
  const request = new AwsRequestImpl(principal, { resource: c.resource_arn || '*', accountId: c.resource_account || ACCOUNT }, c.action, new RequestContextImpl(context));
  const analysis = authorize({
    request,
    sessionPolicy: session,
    identityPolicies: (c.identity || []).map((d, i) => load(d, `identity#${i}`)),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: c.resource ? load(c.resource, 'resource') : undefined,
    permissionBoundaries: c.boundary ? c.boundary.map((d, i) => load(d, `boundary#${i}`)) : undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
    serviceSettings: { s3: {} },
  });
  return { Allowed: 'Allow', ExplicitlyDenied: 'ExplicitDeny', ImplicitlyDenied: 'ImplicitDeny' }[analysis.result] || analysis.result;
}

const dir = process.argv[2];
let total = 0;
let disagreements = 0;
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const data = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  for (const group of data.groups) {
    for (const raw of group.cases) {
      const c = { ...group.defaults, ...raw, context: { ...(group.defaults || {}).context, ...raw.context } };
      total += 1;
      let got;
      try {
        got = run(c);
      } catch (e) {
        got = `error: ${e.message.split('\n')[0]}`;
      }
      if (got !== c.expect) {
        disagreements += 1;
        console.log(`${file} | ${group.about} | ${c.name}: keyhaven ${c.expect}, iam-simulate ${got}`);
      }
    }
  }
}
console.log(`${disagreements} disagreements in ${total} cases`);
