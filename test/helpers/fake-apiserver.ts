/**
 * A local HTTPS stand-in for kube-apiserver (none is packaged here), serving the real paths
 * and object shapes manifold uses: pods (GET), pods/status (PUT, with resourceVersion
 * conflicts; PATCH as a JSON merge patch, RFC 7386, with metadata.uid and resourceVersion as
 * preconditions: 409; other patch types 415), NetworkAttachmentDefinitions (GET), and core/v1
 * events (POST, LIST; kept in `events`). Pods and NADs can also be listed (all namespaces or
 * one; `fieldSelector=spec.nodeName=…` on pods; `limit`/`continue` pages; the list's
 * `metadata.resourceVersion`) and watched (`watch=1`: a chunked stream of newline-delimited
 * events with increasing resourceVersions, replayed from the `resourceVersion` asked for, an
 * ERROR event with a 410 Status when that is older than the history kept, BOOKMARKs when
 * `allowWatchBookmarks`, the stream ended after `timeoutSeconds`). Requests need a valid
 * bearer token or a client certificate signed by the test CA (401 otherwise); errors are
 * Status objects as the API server sends them. Knobs: tokens, failures to inject, an outage,
 * a request log, RBAC, broken watches, a compacted history.
 *
 * Dynamic Resource Allocation (resource.k8s.io/v1, fake-dra.ts): ResourceClaims (GET),
 * ResourceSlices (LIST and WATCH as pods, `fieldSelector=spec.nodeName=…`), and the claim's
 * status by server-side apply (`application/apply-patch+yaml` with a `fieldManager`): the
 * `status.devices` list-map keyed by driver/pool/device, each entry owned by the manager that
 * applied it (an apply sets that manager's entries, removes the ones it no longer applies,
 * conflicts with another manager's different values unless `force`), validated as the API
 * validates it (allocated devices only, ips CIDRs ≤ 16), authorized on
 * `resourceclaims/status` and per driver on the synthetic `resourceclaims/driver`
 * (`associated-node:patch`).
 */

import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type ClaimSpec, DraStore, type SliceSpec } from './fake-dra.ts';
import type { Pki } from './pki.ts';

export interface PodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly annotations?: Record<string, string>;
  /** spec.nodeName (default node1). */
  readonly nodeName?: string;
  /** spec.resourceClaims (DRA). */
  readonly resourceClaims?: readonly {
    name: string;
    resourceClaimName?: string;
    resourceClaimTemplateName?: string;
  }[];
  /** status.resourceClaimStatuses: the claims generated from templates. */
  readonly resourceClaimStatuses?: readonly { name: string; resourceClaimName?: string }[];
}

type Watched = 'pods' | 'nads' | 'slices';

interface HistoryEvent {
  readonly rv: number;
  readonly kind: Watched;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** A snapshot of the object as of the event. */
  readonly object: Obj;
  /** The object before a MODIFIED event. */
  readonly prev?: Obj;
}

interface Watcher {
  readonly kind: Watched;
  readonly namespace: string | undefined;
  readonly nodeName: string | undefined;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  readonly timer: NodeJS.Timeout;
}

type Obj = Record<string, unknown> & {
  metadata: Record<string, unknown> & { annotations?: Record<string, string> };
};

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly auth: string;
}

const status = (code: number, reason: string, message: string, details?: object) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});

export interface RbacRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  /** Restricts the rule to objects of these names (for resourceclaims/driver: driver names). */
  readonly resourceNames?: readonly string[];
}

/** The request's RBAC attributes: verb, API group, resource (with its subresource), namespace. */
export function requestAttributes(
  method: string,
  path: string,
): { verb: string; group: string; resource: string; namespace: string } | undefined {
  const watch = /[?&]watch=(1|true)(&|$)/.test(path);
  // a collection across namespaces: /api/v1/pods, /apis/group/version/resource
  const all = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/([^/]+)$/.exec(path.split('?')[0] ?? '');
  if (all && all[2] !== 'namespaces' && method === 'GET') {
    return { verb: watch ? 'watch' : 'list', group: all[1] ?? '', resource: all[2] ?? '', namespace: '' };
  }
  const m =
    /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
      path.split('?')[0] ?? '',
    );
  if (!m) return undefined;
  const [, group = '', namespace = '', resource = '', name, sub] = m;
  const verbs: Record<string, string> = {
    GET: name ? 'get' : watch ? 'watch' : 'list',
    POST: 'create',
    PUT: 'update',
    PATCH: 'patch',
    DELETE: 'delete',
  };
  return {
    verb: verbs[method] ?? method.toLowerCase(),
    group,
    resource: sub ? `${resource}/${sub}` : resource,
    namespace: decodeURIComponent(namespace),
  };
}

const KINDS: Record<Watched, { kind: string; apiVersion: string }> = {
  pods: { kind: 'Pod', apiVersion: 'v1' },
  nads: { kind: 'NetworkAttachmentDefinition', apiVersion: 'k8s.cni.cncf.io/v1' },
  slices: { kind: 'ResourceSlice', apiVersion: 'resource.k8s.io/v1' },
};

export class FakeApiServer {
  readonly pki: Pki;
  readonly pods = new Map<string, Obj>();
  readonly nads = new Map<string, Obj>();
  /** apps/v1 DaemonSets by `<namespace>/<name>` (GET only: `uninstall --if-daemonset-deleted`). */
  readonly daemonSets = new Map<
    string,
    { metadata: { name: string; namespace: string; deletionTimestamp?: string } }
  >();
  readonly tokens = new Set<string>();
  /** ResourceClaims and ResourceSlices (DRA). */
  readonly dra = new DraStore(() => String(this.#rv++));
  readonly log: LoggedRequest[] = [];
  /**
   * RBAC as the API server's authorizer applies it: when set, a request is allowed only if a
   * rule (a ClusterRole's `rules`, e.g. deploy/rbac.yaml's) grants its verb on its group and
   * resource (`pods/status` for a subresource); 403 Forbidden otherwise.
   */
  rbac: readonly RbacRule[] | undefined;
  /** Events created (POST /api/v1/namespaces/{ns}/events), in order. */
  readonly events: Obj[] = [];
  /** Answer POST events with this status (e.g. 403: RBAC without `create` on events). */
  eventsStatus = 0;
  /** Answer the next N requests with this status (e.g. 503), then serve normally. */
  failNext: { count: number; code: number } = { count: 0, code: 503 };
  /** Answer PUT pods/status with 409 this many times first. */
  conflicts = 0;
  /** Answer PUT and PATCH of pods/status with 403 (RBAC without `update`/`patch` on pods/status). */
  forbidStatus = false;
  /** Watch events kept for resuming a watch (older ones are dropped: a resume from before them gets 410). */
  historyLimit = 1000;
  /** Answer a watch from too old a resourceVersion with HTTP 410 instead of an ERROR event in a 200 stream. */
  goneAsHttp = false;
  #history: HistoryEvent[] = [];
  /** The resourceVersion below which history was dropped (a watch from before it gets 410). */
  #compactedTo = 0;
  readonly #watchers = new Set<Watcher>();
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #rv = 1;
  port = 0;

  constructor(pki: Pki) {
    this.pki = pki;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    const server = createServer(
      {
        cert: this.pki.cert,
        key: this.pki.key,
        ca: this.pki.ca,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => this.#handle(req, res),
    );
    // every TCP connection, also one still in its TLS handshake (stop() must cut it too, or
    // close() waits for it)
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening and cuts every connection (the API server is down). */
  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    this.#endWatches();
    for (const sock of this.#sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  addPod(p: PodSpec): Obj {
    const pod: Obj = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        uid: p.uid ?? `uid-${p.name}`,
        resourceVersion: String(this.#rv++),
        annotations: { ...(p.annotations ?? {}) },
      },
      spec: {
        containers: [{ name: 'app', image: 'busybox' }],
        nodeName: p.nodeName ?? 'node1',
        ...(p.resourceClaims ? { resourceClaims: structuredClone(p.resourceClaims) } : {}),
      },
      status: {
        phase: 'Pending',
        ...(p.resourceClaimStatuses
          ? { resourceClaimStatuses: structuredClone(p.resourceClaimStatuses) }
          : {}),
      },
    };
    const key = `${p.namespace}/${p.name}`;
    const prev = this.pods.get(key);
    this.pods.set(key, pod);
    this.#record('pods', prev ? 'MODIFIED' : 'ADDED', pod, prev);
    return pod;
  }

  /**
   * Sets (or, with undefined, removes) one annotation of a pod as a client's PATCH would: a
   * new resourceVersion and a MODIFIED event, the rest of the pod as it was.
   */
  setPodAnnotation(namespace: string, name: string, key: string, value: string | undefined): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) throw new Error(`no pod ${namespace}/${name}`);
    const annotations = { ...(pod.metadata.annotations ?? {}) };
    if (value === undefined) delete annotations[key];
    else annotations[key] = value;
    pod.metadata.annotations = annotations;
    pod.metadata.resourceVersion = String(this.#rv++);
    this.#record('pods', 'MODIFIED', pod);
  }

  /** Deletes a pod (as the API server does once its finalizers and grace are done): a DELETED event. */
  deletePod(namespace: string, name: string): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return;
    this.pods.delete(`${namespace}/${name}`);
    pod.metadata.resourceVersion = String(this.#rv++);
    this.#record('pods', 'DELETED', pod);
  }

  deleteNad(namespace: string, name: string): void {
    const nad = this.nads.get(`${namespace}/${name}`);
    if (!nad) return;
    this.nads.delete(`${namespace}/${name}`);
    nad.metadata.resourceVersion = String(this.#rv++);
    this.#record('nads', 'DELETED', nad);
  }

  /** Cuts every watch stream's connection mid-stream (a network failure, an API server restart). */
  breakWatches(): void {
    for (const w of this.#watchers) {
      clearTimeout(w.timer);
      w.res.socket?.destroy();
    }
    this.#watchers.clear();
  }

  /** Drops every watch event kept (etcd compacted): a watch resumed from before now gets 410. */
  compact(): void {
    this.#history = [];
    this.#compactedTo = this.#rv - 1;
  }

  /** Sends a BOOKMARK (the current resourceVersion) to every watch that allows them. */
  bookmark(): void {
    for (const w of this.#watchers) if (w.bookmarks) this.#bookmarkTo(w);
  }

  /** Writes a raw line to every watch stream (a malformed event). */
  injectWatchLine(line: string): void {
    for (const w of this.#watchers) w.res.write(`${line}\n`);
  }

  /** Watch streams open now. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  #bookmarkTo(w: Watcher): void {
    const { kind, apiVersion } = KINDS[w.kind];
    w.res.write(
      `${JSON.stringify({ type: 'BOOKMARK', object: { kind, apiVersion, metadata: { resourceVersion: String(this.#rv - 1) } } })}\n`,
    );
  }

  /**
   * Keeps the event for resumed watches and sends it to the open ones. A watch whose field
   * selector the object no longer matches (a pod on another node now) gets it as DELETED, as
   * the API server sends it.
   */
  #record(kind: Watched, type: HistoryEvent['type'], object: Obj, prev?: Obj): void {
    const e: HistoryEvent = {
      rv: Number(object.metadata.resourceVersion),
      kind,
      type,
      object: structuredClone(object),
      ...(prev ? { prev: structuredClone(prev) } : {}),
    };
    this.#history.push(e);
    while (this.#history.length > this.historyLimit) {
      const dropped = this.#history.shift();
      if (dropped) this.#compactedTo = dropped.rv;
    }
    for (const w of this.#watchers) this.#deliver(w, e);
  }

  /** Writes the event to `w` if it concerns it: as it is, or as DELETED when it no longer matches. */
  #deliver(w: Watcher, e: HistoryEvent): void {
    if (this.#matches(w, e)) this.#write(w, e);
    else if (e.type === 'MODIFIED' && e.prev && this.#matches(w, { ...e, object: e.prev }))
      this.#write(w, { ...e, type: 'DELETED' });
  }

  #matches(w: Watcher, e: HistoryEvent): boolean {
    if (w.kind !== e.kind) return false;
    if (w.namespace !== undefined && e.object.metadata.namespace !== w.namespace) return false;
    if (
      w.nodeName !== undefined &&
      (e.object.spec as { nodeName?: string } | undefined)?.nodeName !== w.nodeName
    )
      return false;
    return true;
  }

  #write(w: Watcher, e: HistoryEvent): void {
    const line = `${JSON.stringify({ type: e.type, object: e.object })}\n`;
    if (this.#held) this.#held.push([w, line]);
    else w.res.write(line);
  }

  #held: [Watcher, string][] | undefined;

  /** Holds back watch events (a watch that lags behind the API) until resumeWatches(). */
  pauseWatches(): void {
    this.#held ??= [];
  }

  resumeWatches(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const [w, line] of held) if (this.#watchers.has(w)) w.res.write(line);
  }

  #endWatches(): void {
    for (const w of this.#watchers) {
      clearTimeout(w.timer);
      w.res.end();
    }
    this.#watchers.clear();
  }

  addNad(
    namespace: string,
    name: string,
    config: object | string | undefined,
    annotations: Record<string, string> = {},
  ): void {
    const key = `${namespace}/${name}`;
    const type = this.nads.has(key) ? 'MODIFIED' : 'ADDED';
    const nad: Obj = {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name, namespace, uid: `nad-${name}`, resourceVersion: String(this.#rv++), annotations },
      spec:
        config === undefined ? {} : { config: typeof config === 'string' ? config : JSON.stringify(config) },
    };
    this.nads.set(key, nad);
    this.#record('nads', type, nad);
  }

  annotation(namespace: string, name: string, key: string): string | undefined {
    return this.pods.get(`${namespace}/${name}`)?.metadata.annotations?.[key];
  }

  /** A kubeconfig for this server (token, token file, or client certificate). */
  writeKubeconfig(path: string, user: { token?: string; tokenFile?: string; clientCert?: boolean }): void {
    const u = user.clientCert
      ? { 'client-certificate': this.pki.clientCertFile, 'client-key': this.pki.clientKeyFile }
      : user.tokenFile
        ? { tokenFile: user.tokenFile }
        : { token: user.token ?? '' };
    const lines = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${this.url}`,
      `    certificate-authority: ${this.pki.caFile}`,
      'users:',
      '- name: manifold',
      '  user:',
      ...Object.entries(u).map(([k, v]) => `    ${k}: ${v}`),
      'contexts:',
      '- name: test',
      '  context: {cluster: test, user: manifold}',
      'current-context: test',
      '',
    ];
    writeFileSync(path, lines.join('\n'));
  }

  /** Answers the request (true: so a route can `return this.#send(…)`). */
  #send(req: IncomingMessage, res: ServerResponse, code: number, body: unknown, auth: string): boolean {
    this.log.push({ method: req.method ?? '', path: req.url ?? '', status: code, auth });
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.#route(req, res, Buffer.concat(chunks).toString('utf8')));
  }

  #route(req: IncomingMessage, res: ServerResponse, body: string): boolean {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const certOk = (req.socket as TLSSocket).authorized === true;
    const auth = bearer ? `token:${bearer}` : certOk ? 'cert' : 'none';
    if (!(bearer && this.tokens.has(bearer)) && !(certOk && !bearer)) {
      return this.#send(req, res, 401, status(401, 'Unauthorized', 'Unauthorized'), auth);
    }
    const denied = this.#forbidden(req);
    if (denied) return this.#send(req, res, 403, status(403, 'Forbidden', denied), auth);
    if (this.failNext.count > 0) {
      this.failNext.count--;
      return this.#send(
        req,
        res,
        this.failNext.code,
        status(
          this.failNext.code,
          'ServiceUnavailable',
          'the server is currently unable to handle the request',
        ),
        auth,
      );
    }
    const url = new URL(req.url ?? '/', 'https://x');
    if (url.pathname === '/apis/resource.k8s.io/v1/resourceslices' && req.method === 'GET')
      return this.#collection(req, res, url, 'slices', undefined, auth);
    if (url.pathname.startsWith('/apis/resource.k8s.io/')) {
      const r = this.dra.serve(req.method ?? '', url, req.headers['content-type'] ?? '', body, (a) =>
        this.#allowed(a),
      );
      return this.#send(req, res, r.code, r.body, auth);
    }
    const collection =
      /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?pods$/.exec(url.pathname) ??
      /^\/apis\/k8s\.cni\.cncf\.io\/v1\/(?:namespaces\/([^/]+)\/)?(network-attachment-definitions)$/.exec(
        url.pathname,
      );
    if (collection && req.method === 'GET') {
      const kind: Watched = collection[2] ? 'nads' : 'pods';
      const ns = collection[1] === undefined ? undefined : decodeURIComponent(collection[1]);
      return this.#collection(req, res, url, kind, ns, auth);
    }
    const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/status)?$/.exec(url.pathname);
    const nad =
      /^\/apis\/k8s\.cni\.cncf\.io\/v1\/namespaces\/([^/]+)\/network-attachment-definitions\/([^/]+)$/.exec(
        url.pathname,
      );
    if (pod) {
      const [, ns, name, sub] = pod;
      const key = `${decodeURIComponent(ns ?? '')}/${decodeURIComponent(name ?? '')}`;
      const found = this.pods.get(key);
      const notFound = status(404, 'NotFound', `pods "${decodeURIComponent(name ?? '')}" not found`, {
        name: decodeURIComponent(name ?? ''),
        kind: 'pods',
      });
      if (!found) return this.#send(req, res, 404, notFound, auth);
      if (req.method === 'GET' && !sub) return this.#send(req, res, 200, found, auth);
      if ((req.method === 'PUT' || req.method === 'PATCH') && sub && this.forbidStatus) {
        const verb = req.method === 'PUT' ? 'update' : 'patch';
        const msg = `pods "${found.metadata.name}" is forbidden: User "system:serviceaccount:kube-system:manifold" cannot ${verb} resource "pods/status" in API group "" in the namespace "${ns}"`;
        return this.#send(
          req,
          res,
          403,
          status(403, 'Forbidden', msg, { name: found.metadata.name, kind: 'pods' }),
          auth,
        );
      }
      if (req.method === 'PUT' && sub) return this.#putStatus(req, res, found, body, auth);
      if (req.method === 'PATCH') return this.#patch(req, res, found, body, auth, sub !== undefined);
      return this.#send(
        req,
        res,
        405,
        status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
        auth,
      );
    }
    const events = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(url.pathname);
    if (events) return this.#events(req, res, decodeURIComponent(events[1] ?? ''), body, auth);
    if (nad && req.method === 'GET') {
      const [, ns, name] = nad;
      const found = this.nads.get(`${decodeURIComponent(ns ?? '')}/${decodeURIComponent(name ?? '')}`);
      if (found) return this.#send(req, res, 200, found, auth);
      return this.#send(
        req,
        res,
        404,
        status(404, 'NotFound', `network-attachment-definitions.k8s.cni.cncf.io "${name}" not found`, {
          name,
          group: 'k8s.cni.cncf.io',
          kind: 'network-attachment-definitions',
        }),
        auth,
      );
    }
    const ds = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/daemonsets\/([^/]+)$/.exec(url.pathname);
    if (ds && req.method === 'GET') {
      const name = decodeURIComponent(ds[2] ?? '');
      const found = this.daemonSets.get(`${decodeURIComponent(ds[1] ?? '')}/${name}`);
      if (found) return this.#send(req, res, 200, found, auth);
      const gone = status(404, 'NotFound', `daemonsets.apps "${name}" not found`, {
        name,
        group: 'apps',
        kind: 'daemonsets',
      });
      return this.#send(req, res, 404, gone, auth);
    }
    return this.#send(
      req,
      res,
      404,
      status(404, 'NotFound', 'the server could not find the requested resource'),
      auth,
    );
  }

  /** LIST or WATCH (`watch=1`) of pods or NADs, in one namespace or all. */
  #collection(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    kind: Watched,
    namespace: string | undefined,
    auth: string,
  ): boolean {
    const q = url.searchParams;
    const field = q.get('fieldSelector') ?? '';
    let nodeName: string | undefined;
    if (field) {
      const m = /^spec\.nodeName=(.*)$/.exec(field);
      if (kind === 'nads' || !m) {
        return this.#send(
          req,
          res,
          400,
          status(
            400,
            'BadRequest',
            `"${field.split('=')[0]}" is not a known field selector: only "metadata.name", "metadata.namespace", "spec.nodeName"`,
          ),
          auth,
        );
      }
      nodeName = m[1];
    }
    const w: Omit<Watcher, 'res' | 'timer' | 'bookmarks'> = { kind, namespace, nodeName };
    const store =
      kind === 'pods' ? this.pods : kind === 'nads' ? this.nads : (this.dra.slices as Map<string, Obj>);
    const all = [...store.values()].filter((o) =>
      this.#matches(w as Watcher, { rv: 0, kind, type: 'ADDED', object: o }),
    );
    if (q.get('watch') === '1' || q.get('watch') === 'true') return this.#watch(req, res, q, w, all, auth);
    const limit = Number(q.get('limit') ?? 0);
    const start = Number(q.get('continue') ?? 0) || 0;
    const page = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const more = limit > 0 && start + limit < all.length;
    return this.#send(
      req,
      res,
      200,
      {
        kind: `${KINDS[kind].kind}List`,
        apiVersion: KINDS[kind].apiVersion,
        metadata: {
          resourceVersion: String(this.#rv - 1),
          ...(more ? { continue: String(start + limit) } : {}),
        },
        items: page,
      },
      auth,
    );
  }

  #watch(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    w: Omit<Watcher, 'res' | 'timer' | 'bookmarks'>,
    current: Obj[],
    auth: string,
  ): boolean {
    const from = q.get('resourceVersion') ?? '';
    const rv = Number(from);
    const tooOld = from !== '' && from !== '0' && rv < this.#compactedTo;
    if (tooOld && this.goneAsHttp) {
      return this.#send(
        req,
        res,
        410,
        status(410, 'Expired', `too old resource version: ${from} (${this.#compactedTo + 1})`),
        auth,
      );
    }
    this.log.push({ method: req.method ?? '', path: req.url ?? '', status: 200, auth });
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (tooOld) {
      const gone = status(410, 'Expired', `too old resource version: ${from} (${this.#compactedTo + 1})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return true;
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const watcher: Watcher = {
      ...w,
      res,
      bookmarks: q.get('allowWatchBookmarks') === 'true',
      timer: setTimeout(
        () => {
          this.#watchers.delete(watcher);
          if (watcher.bookmarks) this.#bookmarkTo(watcher);
          res.end();
        },
        timeout > 0 ? timeout * 1000 : 1800_000,
      ),
    };
    if (from === '' || from === '0') {
      for (const o of current) this.#write(watcher, { rv: 0, kind: w.kind, type: 'ADDED', object: o });
    } else {
      for (const e of this.#history) if (e.rv > rv) this.#deliver(watcher, e);
    }
    this.#watchers.add(watcher);
    res.on('close', () => {
      clearTimeout(watcher.timer);
      this.#watchers.delete(watcher);
    });
    return true;
  }

  #putStatus(req: IncomingMessage, res: ServerResponse, found: Obj, body: string, auth: string): boolean {
    const name = String(found.metadata.name);
    const sent = JSON.parse(body) as Obj;
    if (this.conflicts > 0 || sent.metadata.resourceVersion !== found.metadata.resourceVersion) {
      if (this.conflicts > 0) this.conflicts--;
      found.metadata.resourceVersion = String(this.#rv++);
      return this.#send(
        req,
        res,
        409,
        status(
          409,
          'Conflict',
          `Operation cannot be fulfilled on pods "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name, kind: 'pods' },
        ),
        auth,
      );
    }
    // the status subresource takes the status and the metadata's annotations, never the spec
    found.metadata.annotations = { ...(sent.metadata.annotations ?? {}) };
    found.status = sent.status;
    found.metadata.resourceVersion = String(this.#rv++);
    this.#record('pods', 'MODIFIED', found);
    return this.#send(req, res, 200, found, auth);
  }

  /** PATCH of a pod or its status: JSON merge patch only; uid and resourceVersion in it are preconditions. */
  #patch(
    req: IncomingMessage,
    res: ServerResponse,
    found: Obj,
    body: string,
    auth: string,
    status_: boolean,
  ): boolean {
    const name = String(found.metadata.name);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type !== 'application/merge-patch+json') {
      return this.#send(
        req,
        res,
        415,
        status(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
        ),
        auth,
      );
    }
    let patch: unknown;
    try {
      patch = JSON.parse(body);
    } catch {
      return this.#send(req, res, 400, status(400, 'BadRequest', 'error decoding patch: invalid JSON'), auth);
    }
    const meta = (patch as { metadata?: Record<string, unknown> } | null)?.metadata ?? {};
    const conflict = (why: string) =>
      this.#send(
        req,
        res,
        409,
        status(409, 'Conflict', `Operation cannot be fulfilled on pods "${name}": ${why}`, {
          name,
          kind: 'pods',
        }),
        auth,
      );
    if (meta.uid !== undefined && meta.uid !== found.metadata.uid) {
      return conflict(
        `Precondition failed: UID in precondition: ${String(meta.uid)}, UID in object meta: ${String(found.metadata.uid)}`,
      );
    }
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== found.metadata.resourceVersion) {
      return conflict(
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    const merged = mergePatch(found, patch) as Obj;
    // the status subresource takes the status and the metadata's labels and annotations; the
    // main resource everything but the status
    if (status_) {
      found.status = merged.status;
      found.metadata.annotations = merged.metadata.annotations ?? {};
      found.metadata.labels = merged.metadata.labels;
    } else {
      for (const [k, v] of Object.entries(merged)) if (k !== 'status') found[k] = v;
    }
    found.metadata.resourceVersion = String(this.#rv++);
    this.#record('pods', 'MODIFIED', found);
    return this.#send(req, res, 200, found, auth);
  }

  /** POST (create) and GET (list) of core/v1 events in a namespace. */
  #events(req: IncomingMessage, res: ServerResponse, ns: string, body: string, auth: string): boolean {
    if (req.method === 'GET') {
      const items = this.events.filter((e) => e.metadata.namespace === ns);
      return this.#send(
        req,
        res,
        200,
        { kind: 'EventList', apiVersion: 'v1', metadata: { resourceVersion: String(this.#rv) }, items },
        auth,
      );
    }
    if (req.method !== 'POST') {
      return this.#send(
        req,
        res,
        405,
        status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
        auth,
      );
    }
    if (this.eventsStatus) {
      const msg = `events is forbidden: User "system:serviceaccount:kube-system:manifold" cannot create resource "events" in API group "" in the namespace "${ns}"`;
      return this.#send(req, res, this.eventsStatus, status(this.eventsStatus, 'Forbidden', msg), auth);
    }
    const e = JSON.parse(body) as Obj & { involvedObject?: { namespace?: string } };
    const name = String(e.metadata?.name ?? '');
    if (e.metadata.namespace !== undefined && e.metadata.namespace !== ns) {
      return this.#send(
        req,
        res,
        400,
        status(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        ),
        auth,
      );
    }
    if (!name || e.involvedObject?.namespace !== ns) {
      const why = !name
        ? 'metadata.name: Required value: name or generateName is required'
        : `involvedObject.namespace: Invalid value: "${e.involvedObject?.namespace}": does not match event.namespace`;
      return this.#send(
        req,
        res,
        422,
        status(422, 'Invalid', `Event "${name}" is invalid: ${why}`, { name, kind: 'Event' }),
        auth,
      );
    }
    if (this.events.some((x) => x.metadata.namespace === ns && x.metadata.name === name)) {
      return this.#send(
        req,
        res,
        409,
        status(409, 'AlreadyExists', `events "${name}" already exists`, { name, kind: 'events' }),
        auth,
      );
    }
    const stored: Obj = {
      ...e,
      metadata: {
        ...e.metadata,
        namespace: ns,
        uid: `event-${this.#rv}`,
        resourceVersion: String(this.#rv++),
      },
    };
    this.events.push(stored);
    return this.#send(req, res, 201, stored, auth);
  }

  /** Whether RBAC (when on) grants the verb on the group's resource (of that name, for rules with resourceNames). */
  #allowed(a: { verb: string; group: string; resource: string; name?: string }): boolean {
    if (!this.rbac) return true;
    return this.rbac.some(
      (r) =>
        (r.apiGroups.includes(a.group) || r.apiGroups.includes('*')) &&
        (r.resources.includes(a.resource) || r.resources.includes('*')) &&
        (r.verbs.includes(a.verb) || r.verbs.includes('*')) &&
        (!r.resourceNames?.length || (a.name !== undefined && r.resourceNames.includes(a.name))),
    );
  }

  /** Adds (or replaces) a ResourceClaim. */
  addClaim(c: ClaimSpec): void {
    this.dra.addClaim(c);
  }

  /** Adds (or replaces) a ResourceSlice: an event for its watchers. */
  addSlice(s: SliceSpec): void {
    const type = this.dra.slices.has(s.name) ? 'MODIFIED' : 'ADDED';
    this.dra.addSlice(s);
    this.#record('slices', type, this.dra.slices.get(s.name) as Obj);
  }

  /** The authorizer's message when RBAC is on and no rule allows the request. */
  #forbidden(req: IncomingMessage): string | undefined {
    if (!this.rbac) return undefined;
    const a = requestAttributes(req.method ?? '', req.url ?? '');
    if (!a) return undefined;
    const name = /\/[^/]+\/namespaces\/[^/]+\/[^/]+\/([^/?]+)/.exec(req.url ?? '')?.[1];
    const ok = this.#allowed({ ...a, ...(name ? { name: decodeURIComponent(name) } : {}) });
    if (ok) return undefined;
    return `${a.resource.split('/')[0]}${a.group ? `.${a.group}` : ''} is forbidden: User "system:serviceaccount:kube-system:manifold" cannot ${a.verb} resource "${a.resource}" in API group "${a.group}" in the namespace "${a.namespace}"`;
  }
}

/** RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
