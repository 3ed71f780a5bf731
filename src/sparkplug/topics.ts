/**
 * Sparkplug B 3.0 topic namespace (§4.1):
 * `spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]`, and the
 * primary host application's `spBv1.0/STATE/{host_id}`.
 */
export const NAMESPACE = 'spBv1.0';

export type NodeMessage = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD';
export type DeviceMessage = 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD';

/** Where this edge node sits in the namespace. */
export interface EdgeNodeId {
  group: string;
  node: string;
}

export function nodeTopic(id: EdgeNodeId, type: NodeMessage): string {
  return `${NAMESPACE}/${id.group}/${type}/${id.node}`;
}

export function deviceTopic(id: EdgeNodeId, type: DeviceMessage, device: string): string {
  return `${NAMESPACE}/${id.group}/${type}/${id.node}/${device}`;
}

/** The retained birth/death certificate of a host application (Sparkplug 3.0 §5.7; 2.x used `STATE/{id}` instead). */
export function stateTopic(hostId: string): string {
  return `${NAMESPACE}/STATE/${hostId}`;
}
