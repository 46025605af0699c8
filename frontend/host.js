/**
 * The guest side of TensorBoard's (unpublished, "experimental") plugin IPC, so
 * that the tab refreshes when TensorBoard reloads its data (reload button,
 * auto-reload) without bundling TensorBoard's plugin library.
 *
 * Protocol (tensorboard/components/experimental/plugin_util, TB 2.x): the guest
 * posts the string "experimental.bootstrap" to its parent window with a
 * MessagePort; over that port both sides exchange JSON strings
 * {type, id, payload, error, isReply}, and every non-reply must be answered with
 * a reply of the same type and id. The host broadcasts
 * "experimental.DataReloaded" after each data reload.
 */

const VERSION = "experimental";
export const DATA_RELOADED = `${VERSION}.DataReloaded`;

/**
 * Connects to the TensorBoard host and calls `onReload()` after every data reload.
 * Does nothing when the page is not inside a frame (e.g. opened on its own).
 * Returns the port (for tests) or null.
 */
export function listenForReloads(onReload, win = window) {
  if (!win.parent || win.parent === win) return null;
  const channel = new MessageChannel();
  const port = channel.port1;
  port.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (!message || message.isReply) return;
    // The host waits for an answer to each message it sends; answer first so a
    // slow refresh never holds TensorBoard up.
    port.postMessage(
      JSON.stringify({ type: message.type, id: message.id, payload: null, error: null, isReply: true }),
    );
    if (message.type === DATA_RELOADED) onReload();
  };
  win.parent.postMessage(`${VERSION}.bootstrap`, "*", [channel.port2]);
  return port;
}
