import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { shareWindow } from '../../src/publish/publisher.js';
import { UnstoredQueue, type UnstoredAlert } from '../../src/publish/unstored-queue.js';
import { makeEvent } from '../helpers/events.js';

function harness(max: number) {
  const sent: Array<{ alert: UnstoredAlert; done: (err?: Error) => void }> = [];
  let connected = true;
  const queue = new UnstoredQueue((alert, done) => {
    if (!connected) return false;
    sent.push({ alert, done });
    return true;
  }, { max, retryMs: 10 }, silentLogger());
  const alert = (seq: number): UnstoredAlert => ({ event: makeEvent(), seq, replayed: false });
  return { queue, sent, alert, disconnect: () => (connected = false), connect: () => (connected = true) };
}

describe('unstored alert queue', () => {
  it('sends within its window and lets an alert go only on its PUBACK', () => {
    const { queue, sent, alert } = harness(10);
    queue.start(2);
    for (let i = 1; i <= 3; i++) queue.push(alert(i));
    expect(sent.map((s) => s.alert.seq)).toEqual([1, 2]);
    expect(queue.size).toBe(3);
    sent[0].done();
    expect(sent.map((s) => s.alert.seq)).toEqual([1, 2, 3]);
    sent[1].done();
    sent[2].done();
    expect(queue.size).toBe(0);
    expect(queue.counters).toEqual({ accepted: 3, published: 3, acked: 3, dropped: 0 });
  });

  it('holds at most max alerts, dropping the oldest waiting one and counting it', () => {
    const { queue, sent, alert } = harness(3);
    for (let i = 1; i <= 5; i++) queue.push(alert(i)); // not connected yet: all wait
    expect(queue.counters.dropped).toBe(2);
    queue.start(10);
    expect(sent.map((s) => s.alert.seq)).toEqual([3, 4, 5]);
  });

  it('sends again, flagged replayed, what was in flight when the connection dropped', () => {
    const { queue, sent, alert, disconnect, connect } = harness(10);
    queue.start(4);
    queue.push(alert(1));
    queue.push(alert(2));
    sent[1].done();
    disconnect();
    queue.stop();
    sent[0].done(new Error('connection closed')); // a callback of the old connection changes nothing
    queue.push(alert(3));
    connect();
    queue.start(4);
    expect(sent.slice(2).map((s) => [s.alert.seq, s.alert.replayed])).toEqual([[1, true], [3, false]]);
  });

  it('gives the outbox most of the broker’s Receive Maximum and itself a few', () => {
    expect(shareWindow(65535)).toEqual({ outbox: 65531, unstored: 4 });
    expect(shareWindow(20)).toEqual({ outbox: 16, unstored: 4 });
    expect(shareWindow(4)).toEqual({ outbox: 3, unstored: 1 });
    expect(shareWindow(1)).toEqual({ outbox: 1, unstored: 1 });
  });
});
