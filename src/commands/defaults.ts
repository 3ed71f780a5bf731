/** The configuration every command reads unless told otherwise: the demo line. */
export const DEFAULT_CONFIG = 'config/default.yaml';
