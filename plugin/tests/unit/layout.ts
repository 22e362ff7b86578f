/**
 * jsdom lays nothing out; Grafana's Combobox measures text on a canvas, virtualises its list
 * by element size and observes intersections. These stand-ins give it sizes to work with.
 */
export function stubLayout() {
  jest.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockReturnValue({
    width: 300, height: 30, top: 0, left: 0, bottom: 30, right: 300, x: 0, y: 0, toJSON: () => ({}),
  } as DOMRect); // prettier-ignore
  HTMLCanvasElement.prototype.getContext = (() => ({
    measureText: (text: string) => ({ width: text.length * 7 }),
    font: '',
  })) as unknown as typeof HTMLCanvasElement.prototype.getContext;
  class NoopObserver {
    observe() {}
    unobserve() {}
    disconnect() {}
    takeRecords() {
      return [];
    }
  }
  Object.assign(window, { IntersectionObserver: NoopObserver, ResizeObserver: NoopObserver });
  for (const [prop, value] of Object.entries({
    offsetHeight: 30,
    offsetWidth: 300,
    clientHeight: 300,
    clientWidth: 300,
  })) {
    Object.defineProperty(HTMLElement.prototype, prop, { configurable: true, value });
  }
}
