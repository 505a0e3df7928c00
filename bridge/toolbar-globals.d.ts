// The globals the toolbar page's scripts share (auth.js sets ctibridgeAuth; main.js exposes the
// toolbar for debugging from the console).
interface CtibridgeAuth {
  token(): string | null;
  headers(): Record<string, string>;
  protocols(): string[];
  ask(reason: string, done: () => void): void;
  forget(): void;
}

interface Window {
  ctibridgeAuth?: CtibridgeAuth;
  ctibridgeToolbar?: unknown;
}
