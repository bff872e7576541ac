#!/usr/bin/env node
// Validates rendered Kubernetes manifests offline (run by deploy/k8s/check):
//   1. every object against the Kubernetes JSON schemas bundled in the npm package kubernetes-models
//      (types, required fields, enums), and no field that the schema does not know (the schemas
//      allow unknown fields; the API server with strict field validation refuses them);
//   2. the project's rules on the rendered output (listed in rules below): probes, resources,
//      security contexts, disruption budgets, network isolation of the internal services, and each
//      pod's effective cch configuration (cch.toml from its ConfigMap, then its CCH_* variables),
//      including the runtime's rule that an internal service off loopback requires mutual TLS;
//   3. with --binaries DIR: each service binary's own --check-config on that effective
//      configuration (and cch-admin config check for the migration Job).
// Usage: node validate.js --settings docs/configuration.md [--binaries DIR] FILE.yaml...
// Prints every problem and exits 1 if there is any, 0 otherwise.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");
const YAML = require("yaml");

const problems = [];
const problem = (where, message) => problems.push(`${where}: ${message}`);

// ---- arguments -------------------------------------------------------------------------------
let settingsFile = null;
let binariesDir = null;
const files = [];
for (let i = 2; i < process.argv.length; ++i) {
  const argument = process.argv[i];
  if (argument === "--settings") settingsFile = process.argv[++i];
  else if (argument === "--binaries") binariesDir = process.argv[++i];
  else files.push(argument);
}
if (!settingsFile || files.length === 0) {
  console.error("usage: node validate.js --settings docs/configuration.md [--binaries DIR] FILE.yaml...");
  process.exit(2);
}

// ---- loading ---------------------------------------------------------------------------------
const objects = [];
for (const file of files) {
  const documents = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const document of documents) {
    if (document.errors.length > 0) {
      problem(file, `malformed YAML: ${document.errors[0].message}`);
      continue;
    }
    const object = document.toJS();
    if (object === null || object === undefined) continue;
    objects.push({ object, source: path.basename(file) });
  }
}
const nameOf = ({ object }) => `${object.kind}/${object.metadata && object.metadata.name}`;

// ---- 1. schemas ------------------------------------------------------------------------------
function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const modulePath = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    return require(modulePath)[kind] || null;
  } catch (error) {
    if (error.code === "MODULE_NOT_FOUND" || error.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return null;
    throw error;
  }
}

function schemaErrors(Model, object) {
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    if (!Array.isArray(error.errors)) throw error;
    return error.errors;
  }
}

const pointer = (keys) => keys.map((key) => "/" + String(key).replace(/~/g, "~0").replace(/\//g, "~1")).join("");

function setAt(object, keys, value) {
  let node = object;
  for (const key of keys.slice(0, -1)) node = node[key];
  node[keys[keys.length - 1]] = value;
}

// A field is known to the schema when a value no schema accepts (a symbol) put in its place makes
// the validator complain at its path; an unknown field is never looked at.
const PROBE = Symbol("not a JSON value");
function unknownFields(Model, object) {
  const unknown = [];
  const walk = (value, keys) => {
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, [...keys, index]));
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const key of Object.keys(value)) {
      const at = [...keys, key];
      const probe = structuredClone(object);
      setAt(probe, at, PROBE);
      const where = pointer(at);
      const known = schemaErrors(Model, probe).some(
        (error) => error.instancePath === where || error.instancePath.startsWith(where + "/"));
      if (known) walk(value[key], at);
      else unknown.push(where);
    }
  };
  walk(object, []);
  return unknown;
}

let schemaChecked = 0;
for (const entry of objects) {
  const { object } = entry;
  const Model = modelFor(object.apiVersion, object.kind);
  if (!Model) {
    problem(nameOf(entry), `no Kubernetes schema for apiVersion ${object.apiVersion} kind ${object.kind}`);
    continue;
  }
  const errors = schemaErrors(Model, object);
  for (const error of errors) problem(nameOf(entry), `schema: ${error.instancePath || "/"} ${error.message}`);
  if (errors.length === 0) {
    for (const where of unknownFields(Model, object)) problem(nameOf(entry), `schema: ${where} is not a field of ${object.kind}`);
  }
  ++schemaChecked;
}

// ---- helpers for the rules -------------------------------------------------------------------
const byKind = (kind) => objects.filter((entry) => entry.object.kind === kind);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function selectorMatches(selector, labels) {
  if (!isObject(selector)) return false;
  for (const [key, value] of Object.entries(selector.matchLabels || {})) if (labels[key] !== value) return false;
  for (const expression of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, expression.key);
    const values = expression.values || [];
    switch (expression.operator) {
      case "In": if (!has || !values.includes(labels[expression.key])) return false; break;
      case "NotIn": if (has && values.includes(labels[expression.key])) return false; break;
      case "Exists": if (!has) return false; break;
      case "DoesNotExist": if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

function quantity(text, kind) {
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(text));
  if (!match) return NaN;
  const factor = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  if (kind === "cpu" && match[2] && match[2] !== "m") return NaN;
  return Number(match[1]) * (match[2] ? factor[match[2]] : 1);
}

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isIpAddress = (text) =>
  /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(text) || (text.includes(":") && /^[0-9a-fA-F:.]+$/.test(text));
// The runtime's own test (libs/runtime/src/service.cpp, is_loopback_address).
const isLoopback = (address) => address === "::1" || address === "localhost" || address.startsWith("127.");

// ---- the configuration: settings from docs/configuration.md, cch.toml, CCH_* variables --------
const settings = new Map();  // key -> {env, default, kind, allowed}
for (const line of fs.readFileSync(settingsFile, "utf8").split("\n")) {
  const match = /^\| `([a-z_]+\.[a-z_0-9]+)` \| `(CCH_[A-Z_0-9]+)` \| (`[^`]*`|\(empty\)) \| ([^|]*) \|/.exec(line);
  if (!match) continue;
  const allowed = match[4].trim();
  const kind = allowed.startsWith("an integer") ? "integer" : allowed === "true or false" ? "boolean" : "text";
  settings.set(match[1], { env: match[2], default: match[3] === "(empty)" ? "" : match[3].slice(1, -1), kind, allowed });
}
if (settings.size < 20) problem(settingsFile, `found only ${settings.size} settings in its table`);
const settingByEnv = new Map([...settings].map(([key, spec]) => [spec.env, key]));

// Only what cch.toml uses: [section] tables, key = "string" | integer | true | false, comments.
function parseToml(text, where) {
  const values = new Map();
  let section = null;
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/^\s+|\s+$/g, "");
    const at = `${where}:${index + 1}`;
    if (line === "" || line.startsWith("#")) return;
    let match;
    if ((match = /^\[([a-z_]+)\]\s*(#.*)?$/.exec(line))) {
      section = match[1];
      return;
    }
    if (!(match = /^([a-z_0-9]+)\s*=\s*("(?:[^"\\]|\\.)*"|-?[0-9]+|true|false)\s*(#.*)?$/.exec(line))) {
      problem(at, `not understood by this checker's TOML reader: ${line}`);
      return;
    }
    if (section === null) {
      problem(at, `setting ${match[1]} outside a [section] table`);
      return;
    }
    const key = `${section}.${match[1]}`;
    const spec = settings.get(key);
    if (!spec) {
      problem(at, `unknown setting "${key}" (the services would exit 2)`);
      return;
    }
    const literal = match[2];
    const type = literal.startsWith('"') ? "text" : literal === "true" || literal === "false" ? "boolean" : "integer";
    if (type !== spec.kind) problem(at, `${key} must be ${spec.allowed}`);
    values.set(key, type === "text" ? JSON.parse(literal) : literal);
  });
  return values;
}

const configMaps = new Map(byKind("ConfigMap").map((entry) => [entry.object.metadata.name, entry.object]));
const secretsReferenced = new Set();

// A workload's pod: its labels, spec, containers, and each container's effective cch settings.
function podsOf(entry) {
  const { object } = entry;
  const template = object.spec && object.spec.template;
  if (!template) return null;
  return { entry, name: object.metadata.name, kind: object.kind, labels: (template.metadata || {}).labels || {}, spec: template.spec };
}
const workloads = [...byKind("Deployment"), ...byKind("Job")].map(podsOf).filter(Boolean);
const serviceOf = (container) => {
  const command = (container.command || [])[0] || "";
  const match = /(?:^|\/)cch-(api|registry|risk|settlement|admin)$/.exec(command);
  return match ? match[1] : null;
};
const internalServices = ["registry", "risk", "settlement"];

// Resolves a file path in a container to the volume mounted over it.
function volumeAt(pod, container, file) {
  let best = null;
  for (const mount of container.volumeMounts || []) {
    const prefix = mount.mountPath.endsWith("/") ? mount.mountPath : mount.mountPath + "/";
    if (file.startsWith(prefix) && (!best || mount.mountPath.length > best.mount.mountPath.length)) {
      const volume = (pod.spec.volumes || []).find((candidate) => candidate.name === mount.name);
      best = { mount, volume, relative: file.slice(prefix.length) };
    }
  }
  return best;
}

function effectiveConfig(pod, container, where) {
  const values = new Map([...settings].map(([key, spec]) => [key, spec.default]));
  const literal = new Map();
  for (const variable of container.env || []) {
    if (variable.valueFrom && variable.valueFrom.secretKeyRef) secretsReferenced.add(variable.valueFrom.secretKeyRef.name);
    if (typeof variable.value === "string") literal.set(variable.name, variable.value);
    if (/PASSWORD|SECRET|TOKEN/.test(variable.name) && variable.value !== undefined)
      problem(where, `environment variable ${variable.name} has a literal value: take it from a Secret (secretKeyRef)`);
    if (variable.name.startsWith("CCH_") && variable.name !== "CCH_CONFIG" && !settingByEnv.has(variable.name))
      problem(where, `environment variable ${variable.name} is no cch setting (a typo is ignored by the services)`);
  }
  let toml = null;
  const configPath = literal.get("CCH_CONFIG");
  if (configPath !== undefined) {
    const found = volumeAt(pod, container, configPath);
    const mapName = found && found.volume && found.volume.configMap && found.volume.configMap.name;
    const configMap = mapName && configMaps.get(mapName);
    if (!configMap || !configMap.data || typeof configMap.data[found.relative] !== "string") {
      problem(where, `CCH_CONFIG ${configPath} is not a key of a ConfigMap mounted in the container`);
    } else {
      toml = configMap.data[found.relative];
      for (const [key, value] of parseToml(toml, `ConfigMap/${mapName}/${found.relative}`)) values.set(key, value);
    }
  }
  for (const [name, value] of literal) if (settingByEnv.has(name)) values.set(settingByEnv.get(name), value);
  return { values, literal, toml };
}

// ---- 2. rules --------------------------------------------------------------------------------
const rules = [];
const rule = (name, check) => rules.push({ name, check });

rule("names are DNS-1123 labels, every object in one namespace", () => {
  const namespaces = new Set();
  for (const entry of objects) {
    const name = entry.object.metadata && entry.object.metadata.name;
    if (!dns1123.test(name || "") || name.length > 63) problem(nameOf(entry), "name is not a DNS-1123 label");
    if (entry.object.kind !== "Namespace") namespaces.add(entry.object.metadata.namespace);
  }
  if (namespaces.size !== 1 || namespaces.has(undefined)) problem("manifests", `objects in namespaces ${[...namespaces].join(", ")}`);
});

rule("pods: no service account token, no service links, non-root with the runtime's seccomp profile", () => {
  for (const pod of workloads) {
    const where = `${pod.kind}/${pod.name}`;
    const spec = pod.spec;
    if (spec.automountServiceAccountToken !== false) problem(where, "automountServiceAccountToken must be false");
    // Service links set <SERVICE>_PORT=tcp://..., and CCH_API_PORT, CCH_REGISTRY_PORT ... are settings.
    if (spec.enableServiceLinks !== false)
      problem(where, "enableServiceLinks must be false: Service cch-<x>'s link variable CCH_<X>_PORT=tcp://... is the cch setting <x>.port, refused at start");
    const security = spec.securityContext || {};
    if (security.runAsNonRoot !== true) problem(where, "securityContext.runAsNonRoot must be true");
    if (!Number.isInteger(security.runAsUser) || security.runAsUser === 0) problem(where, "securityContext.runAsUser must be a non-zero uid");
    if (!security.seccompProfile || security.seccompProfile.type !== "RuntimeDefault")
      problem(where, "securityContext.seccompProfile.type must be RuntimeDefault");
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problem(where, "uses the host's namespaces");
  }
});

rule("containers: locked-down securityContext, requests and limits, one tagged image", () => {
  const images = new Set();
  for (const pod of workloads) {
    for (const container of [...(pod.spec.initContainers || []), ...(pod.spec.containers || [])]) {
      const where = `${pod.kind}/${pod.name} container ${container.name}`;
      const security = container.securityContext || {};
      if (security.allowPrivilegeEscalation !== false) problem(where, "securityContext.allowPrivilegeEscalation must be false");
      if (security.readOnlyRootFilesystem !== true) problem(where, "securityContext.readOnlyRootFilesystem must be true");
      if (security.privileged === true) problem(where, "must not be privileged");
      if (security.runAsUser === 0 || security.runAsNonRoot === false) problem(where, "must not run as root");
      const capabilities = security.capabilities || {};
      if (!(capabilities.drop || []).includes("ALL")) problem(where, "securityContext.capabilities.drop must include ALL");
      if ((capabilities.add || []).length > 0) problem(where, "must not add capabilities");
      const resources = container.resources || {};
      for (const kind of ["cpu", "memory"]) {
        const request = (resources.requests || {})[kind];
        const limit = (resources.limits || {})[kind];
        if (request === undefined) problem(where, `resources.requests.${kind} is missing`);
        if (limit === undefined) problem(where, `resources.limits.${kind} is missing`);
        if (request !== undefined && limit !== undefined) {
          const [r, l] = [quantity(request, kind), quantity(limit, kind)];
          if (Number.isNaN(r) || Number.isNaN(l)) problem(where, `resources ${kind}: ${request} / ${limit} is not a quantity`);
          else if (r > l) problem(where, `resources.requests.${kind} ${request} exceeds the limit ${limit}`);
        }
      }
      const image = String(container.image || "");
      const tag = image.slice(image.lastIndexOf("/") + 1).split(":")[1];
      if (!tag || tag === "latest") problem(where, `image ${image} needs an explicit tag other than latest`);
      images.add(image);
    }
  }
  if (images.size > 1) problem("manifests", `the services and the migration Job name different images: ${[...images].join(", ")}`);
});

rule("Deployments: selector matches the pods, a readiness probe on /readyz and a liveness probe on /healthz", () => {
  for (const pod of workloads.filter((candidate) => candidate.kind === "Deployment")) {
    const where = `Deployment/${pod.name}`;
    if (!selectorMatches(pod.entry.object.spec.selector, pod.labels)) problem(where, "spec.selector does not match the pod template's labels");
    for (const container of pod.spec.containers || []) {
      for (const [probe, route] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]]) {
        const spec = container[probe];
        if (!spec) {
          problem(`${where} container ${container.name}`, `${probe} is missing`);
          continue;
        }
        const target = spec.httpGet ? spec.httpGet.path : spec.exec ? (spec.exec.command || []).join(" ") : "";
        if (!String(target).includes(route)) problem(`${where} container ${container.name}`, `${probe} must ask ${route}`);
      }
    }
  }
});

rule("replicas: the api at least 2; settlement exactly 1, replaced with Recreate", () => {
  for (const pod of workloads.filter((candidate) => candidate.kind === "Deployment")) {
    const spec = pod.entry.object.spec;
    const service = serviceOf(pod.spec.containers[0]);
    const replicas = spec.replicas === undefined ? 1 : spec.replicas;
    if (service === "api" && replicas < 2) problem(`Deployment/${pod.name}`, `replicas ${replicas}: the api runs at least 2`);
    // settlement's margin_calls_overdue task is written for one process (settlement.yaml says why).
    if (service === "settlement" && (replicas !== 1 || !spec.strategy || spec.strategy.type !== "Recreate"))
      problem(`Deployment/${pod.name}`, "settlement runs exactly 1 replica with strategy Recreate (its background tasks are written for one process)");
  }
});

rule("every Deployment has a PodDisruptionBudget that lets a node drain", () => {
  const budgets = byKind("PodDisruptionBudget");
  for (const pod of workloads.filter((candidate) => candidate.kind === "Deployment")) {
    const matching = budgets.filter((budget) => selectorMatches(budget.object.spec.selector, pod.labels));
    const replicas = pod.entry.object.spec.replicas === undefined ? 1 : pod.entry.object.spec.replicas;
    if (matching.length === 0) problem(`Deployment/${pod.name}`, "no PodDisruptionBudget selects its pods");
    if (matching.length > 1) problem(`Deployment/${pod.name}`, "more than one PodDisruptionBudget selects its pods (eviction refuses that)");
    for (const budget of matching) {
      const { minAvailable, maxUnavailable } = budget.object.spec;
      const blocks = (Number.isInteger(minAvailable) && minAvailable >= replicas) || minAvailable === "100%" ||
        maxUnavailable === 0 || maxUnavailable === "0%";
      if (blocks) problem(nameOf(budget), `with ${replicas} replica(s) it allows no eviction: a node drain would never end`);
    }
  }
});

rule("every Deployment has a Service whose target port is a port of its pods", () => {
  for (const pod of workloads.filter((candidate) => candidate.kind === "Deployment")) {
    const services = byKind("Service").filter((service) => selectorMatches(service.object.spec.selector, pod.labels));
    if (services.length === 0) problem(`Deployment/${pod.name}`, "no Service selects its pods");
    const ports = (pod.spec.containers || []).flatMap((container) => container.ports || []);
    for (const service of services) {
      for (const port of service.object.spec.ports || []) {
        const target = port.targetPort === undefined ? port.port : port.targetPort;
        if (!ports.some((candidate) => candidate.containerPort === target || candidate.name === target))
          problem(nameOf(service), `targetPort ${target} is no port of Deployment/${pod.name}`);
      }
    }
  }
});

// ---- network policies --------------------------------------------------------------------------
const policies = byKind("NetworkPolicy").map((entry) => entry.object);
const policyTypes = (policy) => policy.spec.policyTypes || (policy.spec.egress ? ["Ingress", "Egress"] : ["Ingress"]);
const policiesFor = (pod, direction) =>
  policies.filter((policy) => selectorMatches(policy.spec.podSelector, pod.labels) && policyTypes(policy).includes(direction));
const containerPorts = (pod) => (pod.spec.containers || []).flatMap((container) => container.ports || []);
function portAllowed(rulePorts, port, protocol, pod) {
  if (!rulePorts || rulePorts.length === 0) return true;
  return rulePorts.some((entry) => {
    if ((entry.protocol || "TCP") !== protocol) return false;
    if (entry.port === undefined) return true;
    if (typeof entry.port === "string")
      return containerPorts(pod).some((candidate) => candidate.name === entry.port && candidate.containerPort === port);
    return entry.endPort ? port >= entry.port && port <= entry.endPort : entry.port === port;
  });
}
// The workloads a peer of a rule selects, when it selects pods of this namespace only.
const peerPods = (peer) => workloads.filter((pod) => selectorMatches(peer.podSelector, pod.labels));
const podsByService = (service) => workloads.filter((pod) => (pod.spec.containers || []).some((container) => serviceOf(container) === service));

rule("network: the internal services are reachable only from the api pods; the api from anywhere", () => {
  const api = podsByService("api");
  for (const service of internalServices) {
    for (const pod of podsByService(service)) {
      const where = `Deployment/${pod.name}`;
      const applying = policiesFor(pod, "Ingress");
      if (applying.length === 0) problem(where, "no NetworkPolicy isolates its ingress: every pod could call it");
      let apiAllowed = false;
      for (const policy of applying) {
        for (const ingress of policy.spec.ingress || []) {
          const from = ingress.from || [];
          if (from.length === 0) {
            problem(`NetworkPolicy/${policy.metadata.name}`, `admits every source to ${where}`);
            continue;
          }
          if (!ingress.ports || ingress.ports.length === 0) problem(`NetworkPolicy/${policy.metadata.name}`, `admits every port of ${where}`);
          for (const peer of from) {
            const selected = peer.podSelector ? peerPods(peer) : [];
            if (peer.ipBlock || peer.namespaceSelector || !peer.podSelector) {
              problem(`NetworkPolicy/${policy.metadata.name}`, `admits sources other than this namespace's api pods to ${where}`);
            } else if (selected.length === 0 || selected.some((candidate) => !api.includes(candidate))) {
              problem(`NetworkPolicy/${policy.metadata.name}`, `admits pods other than the api's to ${where}: ${selected.map((p) => p.name).join(", ") || "pods of no workload here"}`);
            } else {
              apiAllowed = true;
            }
          }
        }
      }
      if (!apiAllowed) problem(where, "no NetworkPolicy admits the api pods to it");
    }
  }
  for (const pod of api) {
    const port = (containerPorts(pod)[0] || {}).containerPort;
    const applying = policiesFor(pod, "Ingress");
    const open = applying.length === 0 || applying.some((policy) => (policy.spec.ingress || []).some((ingress) =>
      portAllowed(ingress.ports, port, "TCP", pod) &&
      (!ingress.from || ingress.from.length === 0 || ingress.from.some((peer) => peer.ipBlock && peer.ipBlock.cidr === "0.0.0.0/0" && !(peer.ipBlock.except || []).length))));
    if (!open) problem(`Deployment/${pod.name}`, `no NetworkPolicy admits clients from anywhere on port ${port}`);
  }
});

rule("network: every pod's egress is isolated; each reaches PostgreSQL and DNS; the api reaches each internal service", () => {
  const egressAllowed = (pod, test) => policiesFor(pod, "Egress").some((policy) => (policy.spec.egress || []).some(test));
  for (const pod of workloads) {
    const where = `${pod.kind}/${pod.name}`;
    if (policiesFor(pod, "Egress").length === 0) problem(where, "no NetworkPolicy isolates its egress");
    if (!egressAllowed(pod, (egress) => portAllowed(egress.ports, 5432, "TCP", pod)))
      problem(where, "no NetworkPolicy lets it reach PostgreSQL (TCP 5432)");
    if (!egressAllowed(pod, (egress) => portAllowed(egress.ports, 53, "UDP", pod)))
      problem(where, "no NetworkPolicy lets it reach the cluster DNS (UDP 53)");
  }
  for (const pod of podsByService("api")) {
    for (const service of internalServices) {
      for (const target of podsByService(service)) {
        const port = (containerPorts(target)[0] || {}).containerPort;
        const reached = egressAllowed(pod, (egress) => portAllowed(egress.ports, port, "TCP", target) &&
          (!egress.to || egress.to.length === 0 || egress.to.some((peer) => peer.podSelector && !peer.namespaceSelector && peerPods(peer).includes(target))));
        if (!reached) problem(`Deployment/${pod.name}`, `no NetworkPolicy lets it reach Deployment/${target.name} on port ${port}`);
      }
    }
  }
});

// ---- each pod's cch configuration --------------------------------------------------------------
const configs = new Map();  // pod name -> {service, container, values, literal, toml}
rule("configuration: every pod's effective cch settings are valid and consistent", () => {
  const databaseUrls = new Set();
  for (const pod of workloads) {
    for (const container of pod.spec.containers || []) {
      const service = serviceOf(container);
      const where = `${pod.kind}/${pod.name} container ${container.name}`;
      if (!service) {
        problem(where, "its command is none of the cch binaries");
        continue;
      }
      const config = effectiveConfig(pod, container, where);
      configs.set(pod.name, { pod, service, container, ...config });
      const url = config.values.get("database.url");
      databaseUrls.add(url);
      if (!/[?&]target_session_attrs=read-write(&|$)/.test(url))
        problem(where, "database.url must ask for target_session_attrs=read-write (every Patroni node named, the writable one kept)");
      if (/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(url)) problem(where, "database.url carries a password: give it as PGPASSWORD from a Secret");
      const password = (container.env || []).find((variable) => variable.name === "PGPASSWORD");
      if (!password || !password.valueFrom || !password.valueFrom.secretKeyRef) problem(where, "PGPASSWORD must come from a Secret");
      for (const volume of pod.spec.volumes || []) if (volume.secret) secretsReferenced.add(volume.secret.secretName);
      if (service === "admin") continue;

      const value = (key) => config.values.get(key);
      const listen = value(`${service}.listen_address`);
      if (!isIpAddress(listen)) problem(where, `${service}.listen_address ${listen} is not an IP address (the server listens only on one)`);
      const mutualTls = value(`${service}.tls`) === "true" && value("tls.client_certificate") === "required";
      if (service !== "api" && !isLoopback(listen) && !mutualTls)
        problem(where, `${service}.listen_address ${listen} is not loopback: the runtime requires ${service}.tls = true with tls.client_certificate = "required" (exit 2)`);
      const port = Number(value(`${service}.port`));
      if (!(container.ports || []).some((candidate) => candidate.containerPort === port))
        problem(where, `${service}.port ${port} is not a containerPort`);
      const files = [];
      if (value(`${service}.tls`) === "true") {
        files.push("tls.certificate_file", "tls.private_key_file");
        if (value("tls.client_certificate") !== "none") files.push("tls.client_ca_file");
      }
      if (service === "api" && internalServices.some((name) => value(`${name}.tls`) === "true"))
        files.push("internal.ca_file", "internal.client_certificate_file", "internal.client_key_file");
      for (const key of files) {
        const file = value(key);
        const found = file ? volumeAt(pod, container, file) : null;
        if (!file) problem(where, `${key} is empty`);
        else if (!found || !found.volume || !found.volume.secret) problem(where, `${key} ${file} is not in a Secret mounted in the container`);
      }
      // The probes: the kubelet's HTTPS probes present no client certificate.
      for (const probe of ["readinessProbe", "livenessProbe"]) {
        const spec = container[probe];
        if (!spec) continue;
        const tls = value(`${service}.tls`) === "true";
        if (spec.httpGet) {
          const probePort = spec.httpGet.port;
          if (probePort !== port && !(container.ports || []).some((candidate) => candidate.name === probePort && candidate.containerPort === port))
            problem(where, `${probe} asks port ${probePort}, the service listens on ${port}`);
          if ((spec.httpGet.scheme || "HTTP") !== (tls ? "HTTPS" : "HTTP"))
            problem(where, `${probe} scheme must be ${tls ? "HTTPS" : "HTTP"}`);
          if (tls && value("tls.client_certificate") === "required")
            problem(where, `${probe}: the service requires a client certificate, which the kubelet's HTTPS probe cannot present (its handshake fails)`);
        } else if (spec.exec) {
          const command = (spec.exec.command || []).join(" ");
          const match = /\b(https?):\/\/[^\s:/]+:(\d+)\//.exec(command);
          if (!match || Number(match[2]) !== port || match[1] !== (tls ? "https" : "http"))
            problem(where, `${probe} must ask ${tls ? "https" : "http"}://...:${port}/`);
          if (tls && value("tls.client_certificate") === "required" && !(/--cert\b/.test(command) && /--key\b/.test(command)))
            problem(where, `${probe} must present a client certificate (--cert, --key)`);
        } else {
          problem(where, `${probe} must be an HTTP(S) request (httpGet or curl)`);
        }
      }
    }
  }
  if (databaseUrls.size > 1) problem("manifests", `the pods name different databases: ${[...databaseUrls].join(" | ")}`);

  // The api dials each internal service as its own configuration says.
  for (const api of [...configs.values()].filter((config) => config.service === "api")) {
    for (const service of internalServices) {
      const host = api.values.get(`${service}.listen_address`);
      const port = Number(api.values.get(`${service}.port`));
      const where = `Deployment/${api.pod.name}`;
      for (const target of [...configs.values()].filter((config) => config.service === service)) {
        const services = byKind("Service").filter((entry) => selectorMatches(entry.object.spec.selector, target.pod.labels));
        const reachable = services.some((entry) => (host === entry.object.metadata.name || host.startsWith(entry.object.metadata.name + ".")) &&
          (entry.object.spec.ports || []).some((candidate) => candidate.port === port));
        if (!reachable) problem(where, `dials ${service} at ${host}:${port}, which is no Service port of Deployment/${target.pod.name}`);
        if (api.values.get(`${service}.tls`) !== target.values.get(`${service}.tls`))
          problem(where, `${service}.tls is ${api.values.get(`${service}.tls`)} here but ${target.values.get(`${service}.tls`)} in Deployment/${target.pod.name}`);
      }
    }
  }
});

for (const { name, check } of rules) {
  const before = problems.length;
  check();
  console.log(`${problems.length === before ? "ok  " : "FAIL"} ${name}`);
}

// ---- 3. the binaries' own checks ---------------------------------------------------------------
if (binariesDir) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "cch-k8s-config."));
  try {
    for (const config of configs.values()) {
      const binary = path.join(binariesDir, `cch-${config.service}`);
      const where = `${config.pod.kind}/${config.pod.name}`;
      if (!fs.existsSync(binary)) {
        problem(where, `${binary} does not exist`);
        continue;
      }
      const environment = { PATH: process.env.PATH, ASAN_OPTIONS: "detect_leaks=0" };
      for (const [name, value] of config.literal) if (name !== "CCH_CONFIG") environment[name] = value;
      if (config.toml !== null) {
        environment.CCH_CONFIG = path.join(scratch, `${config.pod.name}.toml`);
        fs.writeFileSync(environment.CCH_CONFIG, config.toml);
      }
      const args = config.service === "admin" ? ["config", "check"] : ["--check-config"];
      const run = spawnSync(binary, args, { env: environment, encoding: "utf8", timeout: 30000 });
      const output = `${run.stdout || ""}${run.stderr || ""}`.trim().split("\n").filter((line) => /error|valid/.test(line)).pop() || "";
      if (run.status !== 0) problem(where, `cch-${config.service} ${args.join(" ")} exited ${run.status}: ${output}`);
      console.log(`${run.status === 0 ? "ok  " : "FAIL"} cch-${config.service} ${args.join(" ")} with the environment of ${where}`);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

console.log(`${objects.length} objects (${schemaChecked} validated against the Kubernetes schemas), ${rules.length} rules` +
  `${binariesDir ? `, ${configs.size} configurations checked by the binaries` : ""}; Secrets the pods read: ${[...secretsReferenced].sort().join(", ")}`);
if (problems.length > 0) {
  console.log(`${problems.length} problem(s):`);
  for (const line of problems) console.log(`  ${line}`);
  process.exit(1);
}
console.log("no problem");
