/**
 * What a long-lived host lends the calls it runs. One-shot has no host: every call reads the
 * Kubernetes API itself. The daemon (src/daemon/kube.ts) keeps watches of the node's pods and
 * of the NetworkAttachmentDefinitions and one kept-alive connection to the API server; it
 * hands them to each call through the skel, as it hands the invoker, so the code below the
 * daemon never knows it runs in one: it uses a service when the context carries it.
 *
 * Declared here, structurally and with plain JSON objects, because the plugin context is
 * declared here and this layer imports no Kubernetes code (src/k8s implements it).
 */

/** A decoded JSON object as the API server sends it. */
export type JsonObject = { readonly [key: string]: unknown };

/** An answer of the API server: HTTP status and the decoded JSON body (undefined when none or not JSON). */
export interface ApiReply {
  readonly status: number;
  readonly body: unknown;
}

export interface KubeHost {
  /** The API server (`https://host:port`) and where its credentials come from, for messages. */
  readonly server: string;
  /**
   * The pod as the host's watch has it, when the watch is synced and has this pod (of this uid,
   * when one is given); undefined otherwise: the caller reads it through the API. `stale`: what
   * the watch last had even when it is not synced now (a DEL, which never waits for the API).
   */
  pod(namespace: string, name: string, uid: string, stale?: boolean): JsonObject | undefined;
  /** The NetworkAttachmentDefinition as the host's watch has it; undefined: read it through the API. */
  nad(namespace: string, name: string, stale?: boolean): JsonObject | undefined;
  /**
   * The DRA ResourceSlices of node `nodeName` as the host's watch has them, when it watches that
   * node's and is synced; undefined otherwise: list them through the API. The host may start
   * that watch on the first ask (only nodes whose pods use DRA pay for it).
   */
  resourceSlices?(nodeName: string): readonly JsonObject[] | undefined;
  /**
   * One request on the host's kept-alive connection, with the host's credentials, given at
   * most `timeoutMs`; rejects when no answer came (the caller's retries and budget apply).
   */
  send(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    timeoutMs: number,
  ): Promise<ApiReply>;
}

export interface HostServices {
  /** The daemon's Kubernetes view; absent without credentials and node name. */
  readonly kube?: KubeHost;
}
