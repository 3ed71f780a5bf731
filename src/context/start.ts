import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { lineTopic, type Publisher } from '../publish/index.js';
import { openSideConnection } from '../store/side-connection.js';
import { LineContext } from './line-context.js';

/** The topic the MES states the line's context on: `{prefix}/{site}/{line}/context`. */
export function contextTopic(config: Pick<Config, 'mqtt' | 'site' | 'line'>): string {
  return lineTopic({ prefix: config.mqtt.topic_prefix, site: config.site, line: config.line }, 'context');
}

/**
 * The line's production context, on a connection of its own to the line's
 * database (opened and migrated by the store before), read from the MES's
 * retained messages. Close it before the store.
 */
export function startContext(config: Config, publisher: Pick<Publisher, 'subscribe'>, log: Logger, clock?: Clock): LineContext {
  const context = new LineContext({ db: openSideConnection(config.store.path), log, clock });
  const unsubscribe = publisher.subscribe(contextTopic(config), (m) => context.message(m));
  const close = context.close.bind(context);
  context.close = () => {
    unsubscribe();
    close();
  };
  return context;
}
