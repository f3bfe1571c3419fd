import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";

/**
 * A small kustomize, for rendering deploy/kubernetes without a cluster or a kustomize binary.
 * It implements only what our kustomizations use, and refuses everything else, so a manifest
 * that reaches for another feature fails here instead of rendering differently from
 * `kubectl kustomize` (which the manifest test also runs, when kubectl is installed, and
 * compares with this):
 *
 * - `resources`: YAML files (several documents each) or directories holding a Kustomization;
 * - `components`: directories holding a Component, applied after the resources, in order;
 * - `patches`: `{ target: { kind, name }, patch }` with an inline JSON 6902 patch (add, replace,
 *   remove; `-` appends to an array);
 * - `images`: `{ name, newName?, newTag? }` for containers whose image (without its tag) is `name`;
 * - `namespace`: set on every namespaced object.
 */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

const ALLOWED = new Set(["apiVersion", "kind", "resources", "components", "patches", "images", "namespace"]);
const CLUSTER_SCOPED = new Set(["Namespace", "RuntimeClass", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume", "CustomResourceDefinition"]);

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  components?: string[];
  patches?: Array<{ target?: { kind?: string; name?: string }; patch?: string; path?: string }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  namespace?: string;
}

function load(dir: string, expectKind: "Kustomization" | "Component"): Kustomization {
  const file = join(dir, "kustomization.yaml");
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parseYaml(readFileSync(file, "utf8")) as Kustomization;
  for (const key of Object.keys(k)) if (!ALLOWED.has(key)) throw new Error(`${file}: "${key}" is not supported by the test renderer`);
  if ((k.kind ?? "Kustomization") !== expectKind) throw new Error(`${file}: expected kind ${expectKind}, got ${k.kind}`);
  return k;
}

function loadFile(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0].message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function decodePointer(path: string): string[] {
  if (!path.startsWith("/")) throw new Error(`JSON pointer must start with /: ${path}`);
  return path
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function applyJson6902(target: unknown, ops: Array<{ op: string; path: string; value?: unknown }>): void {
  for (const { op, path, value } of ops) {
    const parts = decodePointer(path);
    const last = parts.pop()!;
    let parent: any = target;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
      if (parent === undefined) throw new Error(`patch ${op} ${path}: ${p} does not exist`);
    }
    if (op === "add") {
      if (Array.isArray(parent)) {
        if (last === "-") parent.push(value);
        else parent.splice(Number(last), 0, value);
      } else parent[last] = value;
    } else if (op === "replace") {
      if (!(last in parent)) throw new Error(`patch replace ${path}: nothing to replace`);
      parent[last] = value;
    } else if (op === "remove") {
      if (!(last in parent)) throw new Error(`patch remove ${path}: nothing to remove`);
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else throw new Error(`patch op ${op} is not supported by the test renderer`);
  }
}

function applyPatches(objects: K8sObject[], k: Kustomization, where: string): void {
  for (const p of k.patches ?? []) {
    if (p.path || !p.patch || !p.target?.kind || !p.target.name) throw new Error(`${where}: only inline JSON 6902 patches with a kind+name target are supported`);
    const hits = objects.filter((o) => o.kind === p.target!.kind && o.metadata.name === p.target!.name);
    if (hits.length !== 1) throw new Error(`${where}: patch target ${p.target.kind}/${p.target.name} matched ${hits.length} objects`);
    applyJson6902(hits[0], parseYaml(p.patch) as Array<{ op: string; path: string; value?: unknown }>);
  }
}

function podSpecs(o: K8sObject): any[] {
  const spec = o.spec as any;
  if (spec?.template?.spec) return [spec.template.spec];
  if (spec?.jobTemplate?.spec?.template?.spec) return [spec.jobTemplate.spec.template.spec];
  return [];
}

export function renderKustomization(dir: string): K8sObject[] {
  const root = resolve(dir);
  const k = load(root, "Kustomization");
  const objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = resolve(root, r);
    if (statSync(path).isDirectory()) objects.push(...renderKustomization(path));
    else objects.push(...loadFile(path));
  }
  for (const c of k.components ?? []) {
    const cdir = resolve(root, c);
    const component = load(cdir, "Component");
    for (const r of component.resources ?? []) objects.push(...loadFile(resolve(cdir, r)));
    applyPatches(objects, component, cdir);
  }
  applyPatches(objects, k, root);
  for (const image of k.images ?? []) {
    for (const o of objects) {
      for (const spec of podSpecs(o)) {
        for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
          const [name, tag] = splitImage(String(c.image));
          if (name === image.name) c.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
        }
      }
    }
  }
  if (k.namespace) for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  return objects;
}

function splitImage(image: string): [string, string] {
  const at = image.lastIndexOf(":");
  const slash = image.lastIndexOf("/");
  return at > slash ? [image.slice(0, at), image.slice(at + 1)] : [image, "latest"];
}

export const kustomizeRoot = (rel: string) => resolve(dirname(new URL(import.meta.url).pathname), "../..", rel);
