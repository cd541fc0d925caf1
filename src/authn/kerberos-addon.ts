/**
 * The optional `kerberos` addon (MIT GSSAPI bindings), loaded only when Kerberos is configured. It is
 * an optional dependency: npm builds it at install where libkrb5-dev is present and leaves it out
 * elsewhere, and OpenFed must then start and run without it — so it is imported by name at run time,
 * never statically, and typed here by the little this project uses of it.
 */

/** A GSSAPI acceptor context: one per SPNEGO exchange (a browser sends one token; we answer one). */
export interface KerberosServerContext {
  /** Accepts the client's token (base64); rejects with GSSAPI's message when it is not acceptable. */
  step(token: string): Promise<string | undefined | void>;
  /** The server's answer token (base64), for mutual authentication; empty when there is none. */
  response?: string;
  /** The client principal, e.g. alice@CONTOSO.COM, once the context is complete. */
  username?: string;
  contextComplete?: boolean;
}

export interface KerberosAddon {
  /** `service` is a GSS host-based service name: HTTP@sts.contoso.com. */
  initializeServer(service: string): Promise<KerberosServerContext>;
}

export type AddonLoad = { ok: true; addon: KerberosAddon } | { ok: false; reason: string };

// A variable, so neither TypeScript nor a bundler resolves the module when it is not installed.
const ADDON = 'kerberos';

let loading: Promise<AddonLoad> | undefined;

/** Loads the addon once per process. The reason says whether it is missing or failed to load (libgssapi). */
export function loadKerberosAddon(): Promise<AddonLoad> {
  loading ??= import(ADDON).then(
    (module: { default?: KerberosAddon } & Partial<KerberosAddon>) => {
      const addon = (typeof module.initializeServer === 'function' ? module : module.default) as KerberosAddon | undefined;
      if (typeof addon?.initializeServer !== 'function') return { ok: false as const, reason: 'the kerberos module has no initializeServer()' };
      return { ok: true as const, addon };
    },
    (error: unknown) => {
      const code = (error as { code?: string }).code;
      const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
      return {
        ok: false as const,
        reason: missing
          ? 'the optional kerberos addon is not installed (install libkrb5-dev, g++ and make, then run npm ci again)'
          : `the kerberos addon could not be loaded: ${(error as Error).message}`,
      };
    },
  );
  return loading;
}
