export type { Backend, DoctorPlatform, ExposeVerdict, PersistDecision, PlatformName } from './context.js';
