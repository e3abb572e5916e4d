// The server writes its version into index.html's meta tag.
const content = document.querySelector<HTMLMetaElement>('meta[name="lookout-version"]')?.content ?? '';
export const VERSION = !content || content.startsWith('__') ? 'dev' : content;
