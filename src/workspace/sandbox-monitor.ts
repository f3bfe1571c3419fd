import { readdir, readFile, readlink, statfs } from "node:fs/promises";

/**
 * Watches one running sandboxed command from the host: how many tasks it has, how much memory
 * its largest process maps, and how much disk is left where its worktree lives. rlimits do the
 * limiting; this tells *which* limit was hit, and stops what rlimits cannot (a fork bomb that
 * spins on EAGAIN forever, a disk filled with many small files).
 *
 * Processes are found by their pid namespace (bubblewrap reports it on --info-fd), or by
 * session id for the unsandboxed mode.
 */

export type Membership = { pidNamespace: number } | { sessionId: number };

export async function sampleProcesses(member: Membership): Promise<{ tasks: number; maxDataBytes: number; pids: number[] }> {
  let tasks = 0;
  const pids: number[] = [];
  let maxDataBytes = 0;
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return { tasks, maxDataBytes, pids };
  }
  const wanted = "pidNamespace" in member ? `pid:[${member.pidNamespace}]` : undefined;
  await Promise.all(
    entries.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      try {
        if (wanted) {
          if ((await readlink(`/proc/${name}/ns/pid`)) !== wanted) return;
        } else {
          const stat = await readFile(`/proc/${name}/stat`, "utf8");
          // Field 6 (session) comes after the parenthesised command name.
          const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          if (Number(fields[3]) !== (member as { sessionId: number }).sessionId) return;
        }
        const status = await readFile(`/proc/${name}/status`, "utf8");
        pids.push(Number(name));
        tasks += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
        const data = Number(/^VmData:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
        if (data > maxDataBytes) maxDataBytes = data;
      } catch {
        // exited, or not ours to read
      }
    }),
  );
  return { tasks, maxDataBytes, pids };
}

export async function freeDiskBytes(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
