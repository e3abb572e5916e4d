import { render } from 'preact';
import { App } from './App';
import { applyTheme } from './lib/store';
import './styles.css';

applyTheme();
const root = document.getElementById('app');
if (root) render(<App />, root);
