import type { WorkerConfig } from '../config/index.js';
import type { WorkerLogger } from '../logs/index.js';
import { toError } from '../util/index.js';
import type { Worker } from '../worker/index.js';

export interface DesktopNotification {
  title: string;
  message: string;
}

export type NotificationSender = (n: DesktopNotification) => Promise<void>;

export interface NotificationsOptions {
  worker: Worker;
  log: WorkerLogger;
  /** How a notification reaches the desktop; default node-notifier (notify-send, toast, Notification Center). */
  send?: NotificationSender;
}

/**
 * Desktop notifications for job completed / job failed / registration approved, each switched by
 * its config field (off by default) and read at the moment of the event, so a change made in the
 * Config tab applies as soon as the worker has reloaded the file. A notification that cannot be
 * shown never affects the worker: the first failure is logged, later ones are silent.
 */
export function startNotifications(opts: NotificationsOptions): { stop: () => void } {
  const log = opts.log.child({ category: 'notify' });
  const send = opts.send ?? sendWithNodeNotifier;
  const config = (): WorkerConfig | undefined => opts.worker.currentConfig;
  let warned = false;
  let sawPending = false;

  const notify = (enabled: boolean | undefined, n: DesktopNotification): void => {
    if (!enabled) return;
    send(n).catch((e: unknown) => {
      if (warned) return;
      warned = true;
      log.warn(`desktop notification failed (further failures are not logged): ${toError(e).message}`);
    });
  };

  const events = opts.worker.events;
  const offs = [
    events.on('job:completed', (e) =>
      notify(config()?.notifyJobCompleted, {
        title: 'Studio worker: job completed',
        message: `${e.kind} job ${e.jobId} finished in ${(e.ms / 1000).toFixed(1)} s`,
      }),
    ),
    events.on('job:failed', (e) =>
      notify(config()?.notifyJobFailed, {
        title: 'Studio worker: job failed',
        message: `${e.kind ?? 'job'} ${e.jobId}: ${e.error}`,
      }),
    ),
    events.on('registration:state', (e) => {
      // A worker that starts already approved was not "just approved": only a pending → approved turn counts.
      if (e.state === 'pending') sawPending = true;
      if (e.state !== 'approved' || !sawPending) return;
      sawPending = false;
      notify(config()?.notifyRegistrationApproved, {
        title: 'Studio worker: registration approved',
        message: 'The studio approved this worker; it is taking jobs now.',
      });
    }),
  ];
  return {
    stop: () => {
      for (const off of offs.splice(0)) off();
    },
  };
}

/** node-notifier is imported on the first notification only: most runs never show one. */
async function sendWithNodeNotifier(n: DesktopNotification): Promise<void> {
  const notifier = (await import('node-notifier')).default;
  await new Promise<void>((resolve, reject) => {
    notifier.notify({ title: n.title, message: n.message, wait: false }, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}
