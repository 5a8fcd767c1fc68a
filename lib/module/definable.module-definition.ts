import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { DefinableModuleExtras, DefinableModuleOptions } from './definable-module.options';

/** The builder behind `DefinableModule.forRoot()` / `forRootAsync()`. */
export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<DefinableModuleOptions>({ moduleName: 'Definable' })
    .setClassMethodName('forRoot')
    .setExtras<DefinableModuleExtras>({ isGlobal: true, server: { enabled: true, prefix: '' } }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal ?? true,
    }))
    .build();

/** DI token of the resolved {@link DefinableModuleOptions}. */
export const DEFINABLE_OPTIONS = MODULE_OPTIONS_TOKEN;
