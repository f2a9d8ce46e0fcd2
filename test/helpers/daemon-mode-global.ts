/** Global setup of `e2e-daemon`: says which e2e files daemon mode leaves out, and why (one-shot specific, or a known bug) (mode.ts). */
import { DAEMON_KNOWN_BUGS, ONESHOT_ONLY } from './mode.ts';

export default function setup(): void {
  for (const [file, why] of Object.entries(ONESHOT_ONLY))
    process.stdout.write(`e2e-daemon: skipped ${file}: one-shot specific: ${why}\n`);
  for (const [file, why] of Object.entries(DAEMON_KNOWN_BUGS))
    process.stdout.write(`e2e-daemon: NOT RUN ${file}: KNOWN DAEMON-MODE BUG: ${why}\n`);
}
