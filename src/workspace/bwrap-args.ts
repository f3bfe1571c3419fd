import { lstat, readlink } from "node:fs/promises";
import { EGRESS_FORWARDER_INSIDE, EGRESS_SOCKET_INSIDE } from "./egress-forwarder.js";

/**
 * The bubblewrap command line, built as pure data so tests can read exactly what is mounted.
 *
 * What the sandbox sees:
 * - `/usr` and the host's `/bin`, `/lib*`, `/sbin` (as the same symlinks or read-only binds);
 * - a short list of harmless `/etc` files (TLS roots, loader cache, nsswitch, resolv.conf), plus
 *   a generated passwd/group/hosts; never the whole `/etc` (it may hold `npmrc`, `pip.conf` or
 *   `gitconfig` with credentials);
 * - extra toolchains the operator names, read-only, at their own paths;
 * - the job's worktree read-write at /workspace, the job's HOME read-write at /home/sandbox,
 *   and a fresh size-capped tmpfs at /tmp;
 * - its own /proc (its own pid namespace: no host process is visible), a minimal /dev;
 * - nothing else: no WORKSPACE_DIR (mirrors, other jobs), no host home, no app key, no `.env`.
 * The root itself is bubblewrap's tmpfs, remounted read-only at the end.
 * Namespaces: all (user, pid, net, ipc, uts, cgroup), always: the sandbox never shares the
 * host's network. With `egress`, the egress proxy's Unix socket and the forwarder script are
 * bound in (egress-proxy.ts, egress-forwarder.ts): the only way out, to allowed registries only.
 * Nested user namespaces are disabled.
 */

export const SANDBOX_WORKDIR = "/workspace";
export const SANDBOX_HOME = "/home/sandbox";
export const SANDBOX_UID = 1000;

export const ETC_FILES = [
  "/etc/alternatives",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/ca-certificates.conf",
  "/etc/pki",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/localtime",
  "/etc/nsswitch.conf",
  "/etc/resolv.conf",
  "/etc/protocols",
  "/etc/services",
  "/etc/mime.types",
  "/etc/os-release",
  "/etc/debian_version",
  "/etc/timezone",
  // Toolchain configuration Debian keeps under /etc and links from /usr: Maven's launcher and
  // logging config (not /etc/maven/settings.xml, where an operator's credentials could live), and
  // the JDK's conf directory (security policy, java.security).
  "/etc/maven/m2.conf",
  "/etc/maven/logging",
  "/etc/java-11-openjdk",
  "/etc/java-17-openjdk",
  "/etc/java-21-openjdk",
] as const;

const ROOT_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] as const;

/** How the host's top-level system directories look: merged-/usr symlinks or real directories. */
export async function hostRootLayout(): Promise<string[]> {
  const args: string[] = [];
  for (const p of ROOT_LINKS) {
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isSymbolicLink()) args.push("--symlink", await readlink(p), p);
    else if (st.isDirectory()) args.push("--ro-bind", p, p);
  }
  return args;
}

export interface BwrapArgsInput {
  rootLayout: readonly string[];
  worktree: string;
  home?: string;
  /** Files generated for /etc/passwd, /etc/group, /etc/hosts. */
  etcFiles: { passwd: string; group: string; hosts: string };
  toolchainPaths: readonly string[];
  tmpBytes: number;
  /** The egress proxy's socket and the forwarder script on the host (setup with network only). */
  egress?: { socket: string; forwarder: string };
  cwd: string;
  env: Record<string, string>;
  /** The shell line to run. */
  command: string;
  shell: string;
  infoFd?: number;
}

export function bwrapArgs(input: BwrapArgsInput): string[] {
  const args = [
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_UID),
    "--hostname",
    "sandbox",
    "--ro-bind",
    "/usr",
    "/usr",
    ...input.rootLayout,
  ];
  for (const f of ETC_FILES) args.push("--ro-bind-try", f, f);
  args.push(
    "--ro-bind", input.etcFiles.passwd, "/etc/passwd",
    "--ro-bind", input.etcFiles.group, "/etc/group",
    "--ro-bind", input.etcFiles.hosts, "/etc/hosts",
  );
  args.push("--dev", "/dev", "--proc", "/proc", "--size", String(input.tmpBytes), "--tmpfs", "/tmp");
  // After /tmp's tmpfs: a toolchain that lives under /tmp (a checkout of this app in CI, say)
  // would otherwise be hidden by it.
  for (const p of input.toolchainPaths) args.push("--ro-bind", p, p);
  if (input.egress) {
    args.push("--bind", input.egress.socket, EGRESS_SOCKET_INSIDE, "--ro-bind", input.egress.forwarder, EGRESS_FORWARDER_INSIDE);
  }
  args.push("--bind", input.worktree, SANDBOX_WORKDIR);
  if (input.home) args.push("--bind", input.home, SANDBOX_HOME);
  else args.push("--dir", SANDBOX_HOME);
  args.push("--remount-ro", "/");
  args.push("--chdir", input.cwd, "--clearenv");
  for (const [k, v] of Object.entries(input.env)) args.push("--setenv", k, v);
  if (input.infoFd !== undefined) args.push("--info-fd", String(input.infoFd));
  // `exec 2>&1` on its own line: stderr joins stdout in order, even for the command's syntax errors.
  args.push("--", input.shell, "-c", `exec 2>&1\n${input.command}`);
  return args;
}

export const PASSWD = [
  "root:x:0:0:root:/root:/usr/sbin/nologin",
  `sandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:iquest sandbox:${SANDBOX_HOME}:/bin/bash`,
  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
  "",
].join("\n");
export const GROUP = ["root:x:0:", `sandbox:x:${SANDBOX_UID}:`, "nogroup:x:65534:", ""].join("\n");
export const HOSTS = "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n";
