// jsdom has no DragEvent (and the node environment no MouseEvent), and Lumino's drag-and-drop module (imported by Jupyter widgets)
// subclasses it when it loads.
if (typeof globalThis.DragEvent === 'undefined' && typeof MouseEvent !== 'undefined') {
  class DragEvent extends MouseEvent {
    readonly dataTransfer: DataTransfer | null = null;
  }
  globalThis.DragEvent = DragEvent as typeof globalThis.DragEvent;
}
