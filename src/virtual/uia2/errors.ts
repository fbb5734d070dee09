/**
 * W3C errors as the UiAutomator2 server reports them: `{"value":{"error","message","stacktrace"}}`
 * with the HTTP status of the error code (server: UiAutomator2Exception subclasses). Appium maps
 * `value.error` back to its error class; `no such element` must be 404 for its implicit-wait loop.
 */

export type W3cErrorCode =
  | 'no such element'
  | 'stale element reference'
  | 'invalid selector'
  | 'invalid argument'
  | 'invalid element state'
  | 'invalid session id'
  | 'unknown command'
  | 'unknown method'
  | 'unknown error'
  | 'unsupported operation';

const STATUS: Record<W3cErrorCode, number> = {
  'no such element': 404,
  'stale element reference': 404,
  'invalid selector': 400,
  'invalid argument': 400,
  'invalid element state': 400,
  'invalid session id': 404,
  'unknown command': 404,
  'unknown method': 405,
  'unknown error': 500,
  'unsupported operation': 500,
};

/** Java exception class names the real server puts at the top of its stack traces. */
const JAVA_CLASS: Record<W3cErrorCode, string> = {
  'no such element': 'io.appium.uiautomator2.common.exceptions.ElementNotFoundException',
  'stale element reference': 'io.appium.uiautomator2.common.exceptions.StaleElementReferenceException',
  'invalid selector': 'io.appium.uiautomator2.common.exceptions.InvalidSelectorException',
  'invalid argument': 'io.appium.uiautomator2.common.exceptions.InvalidArgumentException',
  'invalid element state': 'io.appium.uiautomator2.common.exceptions.InvalidElementStateException',
  'invalid session id': 'io.appium.uiautomator2.common.exceptions.NoSuchDriverException',
  'unknown command': 'io.appium.uiautomator2.common.exceptions.UnknownCommandException',
  'unknown method': 'io.appium.uiautomator2.common.exceptions.UnsupportedOperationException',
  'unknown error': 'io.appium.uiautomator2.common.exceptions.UiAutomator2Exception',
  'unsupported operation': 'java.lang.UnsupportedOperationException',
};

export class W3cError extends Error {
  constructor(
    readonly code: W3cErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'W3cError';
  }

  get status(): number {
    return STATUS[this.code];
  }

  /** The response body's `value`. */
  toValue(): { error: string; message: string; stacktrace: string } {
    return {
      error: this.code,
      message: this.message,
      stacktrace:
        `${JAVA_CLASS[this.code]}: ${this.message}\n` +
        '\tat io.appium.uiautomator2.handler.request.SafeRequestHandler.handle(SafeRequestHandler.java:59)\n' +
        '\tat io.appium.uiautomator2.server.AppiumServlet.handleRequest(AppiumServlet.java:267)\n',
    };
  }
}

export const NO_SUCH_ELEMENT_MESSAGE =
  'An element could not be located on the page using the given search parameters';

export function noSuchElement(): W3cError {
  return new W3cError('no such element', NO_SUCH_ELEMENT_MESSAGE);
}

export function staleElement(id: string): W3cError {
  return new W3cError('stale element reference', `The element '${id}' does not exist in DOM anymore`);
}

export function invalidSelector(message: string): W3cError {
  return new W3cError('invalid selector', message);
}
